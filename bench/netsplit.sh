#!/usr/bin/env bash
# A node that dies, seen from the node that stays (docs/BENCHMARKS.md, "A node's users leaving"):
#
#   bench/netsplit.sh [--members N] [--runs N] [--server BINARY]
#
# Builds charla-server and charla-bench in release (unless --server names a binary), starts
# nats-server and two nodes, a (on core 0) and b, and holds --members (3,000) members of one
# channel over both (a `fanout` at 100 msg/s, stopped with SIGSTOP before the kill). Then a user
# on a pings it every 2 ms (bench/probes/ping_rtt.py) while b is killed with SIGKILL: a learns b
# is gone after its `dead_after_ms` (5 s) and b's users quit there. Prints the pings' round trips and a's log
# line about it. Everything on loopback, every run bounded; everything stopped at the end.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MEMBERS=3000 RUNS=1 SERVER=""
while [ $# -gt 0 ]; do
    case "$1" in
        --members) MEMBERS="$2"; shift ;;
        --runs) RUNS="$2"; shift ;;
        --server) SERVER="$2"; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

NATS=$(command -v nats-server || echo /usr/sbin/nats-server)
[ -x "$NATS" ] || { echo "nats-server is needed (apt-get install nats-server)" >&2; exit 1; }
TARGET="$ROOT/target-bench"
cargo build --release -p charla-server -p charla-bench --target-dir "$TARGET" >&2
SERVER=${SERVER:-$TARGET/release/charla-server}
BENCH="$TARGET/release/charla-bench"
ulimit -n 65536 2>/dev/null || true
PIDS=()
trap 'kill -9 "${PIDS[@]}" 2>/dev/null || true' EXIT

one_run() {
    local run
    PIDS=()
    run=$(mktemp -d /tmp/charla-netsplit.XXXXXX)
    "$NATS" -js -a 127.0.0.1 -p 14223 -sd "$run/js" >"$run/nats.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 50); do grep -q "Server is ready" "$run/nats.log" && break; sleep 0.1; done
    for node in a b; do
        local port=16721 cpu=0
        [ "$node" = b ] && port=16722 cpu=1
        mkdir -p "$run/$node"
        sed -e "s#@RUN@#$run/$node#g" -e "s#127.0.0.1:16667#127.0.0.1:$port#" \
            -e "s#127.0.0.1:16677#127.0.0.1:$((port + 100))#" \
            "$ROOT/bench/peers/charla.toml" >"$run/$node/charla.toml"
        printf '\n[cluster]\nnats = ["nats://127.0.0.1:14223"]\nnode = "%s"\nsubject = "split"\n' \
            "$node" >>"$run/$node/charla.toml"
        RUST_LOG=info taskset -c "$cpu" "$SERVER" --config "$run/$node/charla.toml" \
            >"$run/$node/log" 2>&1 &
        PIDS+=($!)
        echo $! >"$run/$node/pid"
        for _ in $(seq 1 100); do grep -q "charla-server listening" "$run/$node/log" && break; sleep 0.1; done
    done
    sleep 2
    taskset -c 1 "$BENCH" fanout --addr 127.0.0.1:16721 --also 127.0.0.1:16722 \
        --pid "$(cat "$run/a/pid")" --members "$MEMBERS" --senders 10 --rate 100 \
        --duration 120 --timeout 300 --spread-ips 16 >"$run/fanout" 2>&1 &
    local fanout=$!
    PIDS+=($fanout)
    # Once the members are in, the pings run from 3 s before the kill until b's users have left
    # a (after `dead_after_ms`, 5 s).
    taskset -c 1 python3 "$ROOT/bench/probes/ping_rtt.py" 16721 12 "$MEMBERS" \
        >"$run/probe" 2>"$run/probe.err" &
    local probe=$!
    for _ in $(seq 1 1300); do grep -q pinging "$run/probe.err" && break; sleep 0.1; done
    sleep 3
    # The generator stopped first (its members stay, unread): it would end its run when b's
    # members are cut off, and a's members would leave before b's users do.
    kill -STOP "$fanout"
    kill -9 "$(cat "$run/b/pid")"
    wait "$probe" || true
    cat "$run/probe"
    grep -E "stopped answering|quit here" "$run/a/log" | sed 's/\x1b\[[0-9;]*m//g'
    kill -9 "${PIDS[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] || rm -rf "$run"
}

for r in $(seq 1 "$RUNS"); do
    echo "== run $r: $MEMBERS members over nodes a and b, b killed"
    one_run
done
