#!/usr/bin/env bash
# The cluster beside one node, on this machine (docs/CLUSTER.md, docs/BENCHMARKS.md "Three
# nodes"):
#
#   bench/cluster.sh [--members N] [--senders S] [--rate R] [--duration T] [--clients N]
#                    [--rounds N] [--no-fanout] [--no-connect]
#                    [--channels N] [--channel-rates "R1 R2…"]
#
# Builds charla-server and charla-bench in release, starts nats-server (JetStream, its own
# store directory) and, in turn:
#   - one charla node (bench/peers/charla.toml, no cluster), and
#   - three charla nodes of one network on that NATS (the same config plus [cluster]),
# and runs the same fan-out against each (members and senders spread over the three nodes in
# turn; the CPU and memory figures add the three nodes and nats-server), then `connect` with
# --clients spread over the three nodes, then many channels: `durable` with --channels
# channels of three members, one on each node (every node follows every channel), at each of
# --channel-rates messages a second (--channels 0: not run). Everything on loopback, every run
# bounded.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MEMBERS=500 SENDERS=10 RATE=2000 DURATION=10 CLIENTS=45000 ROUNDS=2 CONNECT=1 FANOUT=1
CHANNELS=1000 CHANNEL_RATES="1000 5000"
while [ $# -gt 0 ]; do
    case "$1" in
        --members) MEMBERS="$2"; shift ;;
        --senders) SENDERS="$2"; shift ;;
        --rate) RATE="$2"; shift ;;
        --duration) DURATION="$2"; shift ;;
        --clients) CLIENTS="$2"; shift ;;
        --rounds) ROUNDS="$2"; shift ;;
        --no-connect) CONNECT=0 ;;
        --no-fanout) FANOUT=0 ;;
        --channels) CHANNELS="$2"; shift ;;
        --channel-rates) CHANNEL_RATES="$2"; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

NATS=$(command -v nats-server || echo /usr/sbin/nats-server)
[ -x "$NATS" ] || { echo "nats-server is needed (apt-get install nats-server)" >&2; exit 1; }
TARGET="$ROOT/target-bench"
cargo build --release -p charla-server -p charla-bench --target-dir "$TARGET" >&2
SERVER="$TARGET/release/charla-server"
BENCH="$TARGET/release/charla-bench"
RUN=$(mktemp -d /tmp/charla-cluster.XXXXXX)
PIDS=()
cleanup() {
    # The nodes are started in command substitutions: their pids are in $RUN/pids.
    for p in "${PIDS[@]}" $(cat "$RUN/pids" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$RUN"
}
trap cleanup EXIT

ulimit -n 200000 2>/dev/null || ulimit -n 65536 2>/dev/null || true

# nats-server with JetStream on a loopback port of its own.
"$NATS" -js -a 127.0.0.1 -p 14222 -sd "$RUN/js" >"$RUN/nats.log" 2>&1 &
NATS_PID=$!
PIDS+=("$NATS_PID")
for _ in $(seq 1 50); do grep -q "Server is ready" "$RUN/nats.log" && break; sleep 0.1; done

# A node's config: bench/peers/charla.toml on port $2 (its TLS listener on $2 + 100), in its
# own directory, with [cluster] when $3 is a node name.
node_config() {
    local dir=$1 port=$2 node=${3:-}
    mkdir -p "$dir"
    sed -e "s#@RUN@#$dir#g" -e "s#127.0.0.1:16667#127.0.0.1:$port#" \
        -e "s#127.0.0.1:16677#127.0.0.1:$((port + 100))#" \
        "$ROOT/bench/peers/charla.toml" >"$dir/charla.toml"
    if [ -n "$node" ]; then
        printf '\n[cluster]\nnats = ["nats://127.0.0.1:14222"]\nnode = "%s"\nsubject = "bench"\n' \
            "$node" >>"$dir/charla.toml"
    fi
}

start_node() {
    local dir=$1
    "$SERVER" --config "$dir/charla.toml" >"$dir/log" 2>&1 &
    local pid=$!
    echo "$pid" >>"$RUN/pids"
    for _ in $(seq 1 100); do grep -q "charla-server listening" "$dir/log" && break; sleep 0.1; done
    if ! grep -q "charla-server listening" "$dir/log"; then
        echo "a node did not start:" >&2
        cat "$dir/log" >&2
        exit 1
    fi
    echo "$pid"
}

stop() { kill "$@" 2>/dev/null || true; for p in "$@"; do wait "$p" 2>/dev/null || true; done; }

fanout_one() {
    node_config "$RUN/one" 16701
    local pid; pid=$(start_node "$RUN/one")
    "$BENCH" fanout --addr 127.0.0.1:16701 --pid "$pid" --label "charla, one node" \
        --members "$MEMBERS" --senders "$SENDERS" --rate "$RATE" --duration "$DURATION"
    stop "$pid"
    rm -rf "$RUN/one"
}

three_nodes() {
    local a b c
    node_config "$RUN/a" 16711 a; node_config "$RUN/b" 16712 b; node_config "$RUN/c" 16713 c
    a=$(start_node "$RUN/a"); b=$(start_node "$RUN/b"); c=$(start_node "$RUN/c")
    # Until they have heard each other's heartbeats.
    sleep 2
    echo "$a $b $c"
}

fanout_three() {
    local nodes; nodes=$(three_nodes)
    set -- $nodes
    "$BENCH" fanout --addr 127.0.0.1:16711 --also 127.0.0.1:16712 --also 127.0.0.1:16713 \
        --pid "$1" --also-pid "$2" --also-pid "$3" --also-pid "$NATS_PID" \
        --label "charla, three nodes" \
        --members "$MEMBERS" --senders "$SENDERS" --rate "$RATE" --duration "$DURATION"
    stop "$1" "$2" "$3"
    rm -rf "$RUN/a" "$RUN/b" "$RUN/c"
}

for round in $(seq 1 "$ROUNDS"); do
    [ "$FANOUT" = 1 ] || break
    echo "== round $round: fan-out, one node"
    fanout_one
    echo "== round $round: fan-out, three nodes"
    fanout_three
done

if [ "$CHANNELS" -gt 0 ]; then
    for rate in $CHANNEL_RATES; do
        echo "== $CHANNELS channels of three members over three nodes, $rate msg/s"
        nodes=$(three_nodes)
        set -- $nodes
        "$BENCH" durable --addr 127.0.0.1:16711 --also 127.0.0.1:16712 --also 127.0.0.1:16713 \
            --pid "$1" --also-pid "$2" --also-pid "$3" --also-pid "$NATS_PID" \
            --label "charla, three nodes, $CHANNELS channels" \
            --channels "$CHANNELS" --members 3 --rate "$rate" --duration 5
        stop "$1" "$2" "$3"
        rm -rf "$RUN/a" "$RUN/b" "$RUN/c"
    done
fi

if [ "$CONNECT" = 1 ]; then
    # A process may open 20,000 files here: one generator per node, side by side, each with
    # its third of the clients, held long enough for all three to be in.
    PER=$((CLIENTS / 3))
    echo "== $CLIENTS clients over three nodes ($PER a node, one generator each)"
    nodes=$(three_nodes)
    set -- $nodes
    pids=("$1" "$2" "$3")
    echo "  node processes: ${pids[*]} (nats $NATS_PID)"
    for i in 0 1 2; do
        "$BENCH" connect --addr "127.0.0.1:$((16711 + i))" --pid "${pids[$i]}" \
            --label "node $((i + 1)) of 3" --clients "$PER" --hold $((PER / 1000 + 30)) --timeout 900 \
            --spread-ips 64 >"$RUN/connect.$i" 2>&1 &
        GEN[$i]=$!
    done
    # While they hold: what the network says of itself (LUSERS on node 1).
    sleep $((PER / 1000 + 15))
    python3 - <<'PY' || true
import socket
s = socket.create_connection(("127.0.0.1", 16711))
s.sendall(b"NICK lusers-check\r\nUSER x 0 * :x\r\nLUSERS\r\n")
buf = b""
s.settimeout(10)
while b" 266 " not in buf:
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
for line in buf.decode(errors="replace").split("\r\n"):
    if " 251 " in line or " 265 " in line or " 266 " in line:
        print("  node 1 says:", line.split(" :", 1)[-1])
s.close()
PY
    for i in 0 1 2; do wait "${GEN[$i]}" || true; cat "$RUN/connect.$i"; done
    stop "$1" "$2" "$3"
fi
