#!/usr/bin/env bash
# Side-by-side comparison of charla-server with ngIRCd and InspIRCd on this machine.
#
#   bench/compare.sh [--quick] [--peers "ngircd inspircd"] [--no-abuse] [--out FILE]
#                    [--members N] [--senders S] [--rate R] [--duration T] [--clients N]
#                    [--pairs P] [--direct-rate R] [--slow N] [--high-rate R]
#                    [--connect-concurrency C] [--rounds N] [--durable-channels N]
#                    [--history-rate R] [--storm-members M] [--storm-joiners J]
#                    [--low-rate R] [--tls-clients N] [--idle-hold T] [--huge-members N]
#                    [--huge-peers] [--server-cpus LIST --generator-cpus LIST]
#
# Installs the peers from Debian's packages when missing (needs root), builds charla-server
# and charla-bench in release, starts each server alone on its own loopback port with the
# configuration in bench/peers/ (limits lifted, every change commented there), runs the same
# scenarios against each, stops it, and prints a table with the ratios charla/peer. The abuse
# scenarios that need limits ON (flood, conn-storm, garbage, half-register) run against a
# charla with its default limits (bench/peers/charla-defaults.toml).
#
# Defaults are the issues' sizes: fan-out 500 members / 10 senders at 500, 2,000 and 8,000 msg/s,
# 15,000 connected clients held --idle-hold seconds (150: past a PING round at the 120 s interval
# every server is given for it) for the idle CPU, 19,000 TLS clients, a channel of 15,000
# members (charla only unless --huge-peers: the peers take many minutes to join it), a join
# storm of 1,000 into 2,000. --quick uses small sizes (a smoke run of a few minutes). The
# fan-out scenarios run in --rounds rounds (3 by default), the servers in turn and a different
# one first in each round, and the table gives each figure's median: on a shared machine one
# run of each, minutes apart, measures the machine's drift as much as the servers. The join
# storm runs --rounds times back to back on each server, its figures medians too.
#
# --server-cpus and --generator-cpus (taskset lists, e.g. 0-3 and 4-7) keep every server and the
# load generator on cores of their own; by default they share the machine's cores, and on a
# small machine the generator's reading (and TLS handshakes) takes CPU the servers would use.
#
# History (charla only; the peers keep none): charla runs with history on (its default, in
# bench/peers/charla.toml) and, as "charla-nohistory", the same config with `[history] enabled =
# false`. `durable` (messages/s committed and delivered, 1,000 channels x 3 by default) runs on
# both, back to back; both take part in the fan-out rounds; `history --rate` (CHATHISTORY LATEST
# at 1,000 requests/s) runs on charla. A second table gives history on / off.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS_DIR="$ROOT/bench/peers"

MEMBERS=500 SENDERS=10 RATE=2000 DURATION=10 CLIENTS=15000 PAIRS=100 DIRECT_RATE=20000
SLOW=1000 BIG_CHANNELS=5000 BIG_CLIENTS=300 QUERY_USERS=2000 HIGH_RATE=8000 CONNECT_CONCURRENCY="" PEERS="ngircd inspircd" ABUSE=1 OUT="" ROUNDS=3
DURABLE_CHANNELS=1000 DURABLE_STEP=3 HISTORY_RATE=1000 HISTORY_CLIENTS=100
STORM_MEMBERS=2000 STORM_JOINERS=1000
LOW_RATE=500 TLS_CLIENTS=19000 IDLE_HOLD=150 HUGE_MEMBERS=15000 HUGE_PEERS=0
SERVER_CPUS="" GENERATOR_CPUS=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) MEMBERS=100 SENDERS=5 RATE=500 DURATION=3 CLIENTS=1000 PAIRS=20
                 DIRECT_RATE=2000 SLOW=100 BIG_CHANNELS=500 BIG_CLIENTS=50 QUERY_USERS=200 HIGH_RATE=2000 ROUNDS=1
                 DURABLE_CHANNELS=200 DURABLE_STEP=2 HISTORY_RATE=200 HISTORY_CLIENTS=20
                 STORM_MEMBERS=300 STORM_JOINERS=100
                 LOW_RATE=200 TLS_CLIENTS=1000 IDLE_HOLD=3 HUGE_MEMBERS=1000 ;;
        --peers) PEERS="$2"; shift ;;
        --no-abuse) ABUSE=0 ;;
        --out) OUT="$2"; shift ;;
        --members) MEMBERS="$2"; shift ;;
        --senders) SENDERS="$2"; shift ;;
        --rate) RATE="$2"; shift ;;
        --duration) DURATION="$2"; shift ;;
        --clients) CLIENTS="$2"; shift ;;
        --pairs) PAIRS="$2"; shift ;;
        --direct-rate) DIRECT_RATE="$2"; shift ;;
        --slow) SLOW="$2"; shift ;;
        --high-rate) HIGH_RATE="$2"; shift ;;
        --connect-concurrency) CONNECT_CONCURRENCY="$2"; shift ;;
        --rounds) ROUNDS="$2"; shift ;;
        --durable-channels) DURABLE_CHANNELS="$2"; shift ;;
        --history-rate) HISTORY_RATE="$2"; shift ;;
        --storm-members) STORM_MEMBERS="$2"; shift ;;
        --storm-joiners) STORM_JOINERS="$2"; shift ;;
        --low-rate) LOW_RATE="$2"; shift ;;
        --tls-clients) TLS_CLIENTS="$2"; shift ;;
        --idle-hold) IDLE_HOLD="$2"; shift ;;
        --huge-members) HUGE_MEMBERS="$2"; shift ;;
        --huge-peers) HUGE_PEERS=1 ;;
        --server-cpus) SERVER_CPUS="$2"; shift ;;
        --generator-cpus) GENERATOR_CPUS="$2"; shift ;;
        -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
        *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

# charla-nohistory is bench/peers/charla.toml with a [history] table appended.
if grep -q '^\[history\]' "$PEERS_DIR/charla.toml"; then
    echo "compare.sh: bench/peers/charla.toml must not have a [history] table" >&2
    exit 2
fi

# Commands that start a server, or the generator, on the cores given (taskset execs them, so
# $! stays the server's own pid).
SERVER_PIN=() GENERATOR_PIN=()
[ -n "$SERVER_CPUS" ] && SERVER_PIN=(taskset -c "$SERVER_CPUS")
[ -n "$GENERATOR_CPUS" ] && GENERATOR_PIN=(taskset -c "$GENERATOR_CPUS")

RUN=$(mktemp -d /tmp/charla-compare.XXXXXX)
STARTED=()

cleanup() {
    local pid
    for pid in "${STARTED[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    sleep 1
    for pid in "${STARTED[@]}"; do
        kill -9 "$pid" 2>/dev/null || true
    done
    echo "compare.sh: logs and JSON results are in $RUN" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "== $*" >&2; }

# --- peers from Debian's packages -------------------------------------------------------
need=()
for peer in $PEERS; do
    command -v "$peer" >/dev/null 2>&1 || need+=("$peer")
done
command -v python3 >/dev/null 2>&1 || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "compare.sh: missing ${need[*]}; run as root to apt-get install them" >&2
        exit 2
    fi
    log "installing ${need[*]} from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- build ------------------------------------------------------------------------------
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target-bench}"
log "building charla-server and charla-bench (release)"
(cd "$ROOT" && cargo build --release -p charla-server -p charla-bench >&2)
CHARLA="$CARGO_TARGET_DIR/release/charla-server"
BENCH="$CARGO_TARGET_DIR/release/charla-bench"

# Each server and the generator may hold 15,000+ sockets; this machine caps a process at
# 20,000 open files.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
ulimit -n 20000 2>/dev/null || true

# Registrations in flight while connecting, per server, unless --connect-concurrency is given:
# ngIRCd listens with a backlog of 10 (more in flight overflows it: SYN retries of 1 s), and
# InspIRCd completes registrations on a 1-second tick (so only many in flight keep it busy);
# charla takes the middle value. Each is near the best measured for that server.
connect_concurrency_of() {
    if [ -n "$CONNECT_CONCURRENCY" ]; then echo "$CONNECT_CONCURRENCY"; return; fi
    case "$1" in
        ngircd) echo 8 ;; inspircd) echo 2000 ;; *) echo 32 ;;
    esac
}

port_of() {
    case "$1" in
        charla) echo 16667 ;; ngircd) echo 16668 ;; inspircd) echo 16669 ;;
        charla-defaults) echo 16670 ;; charla-nohistory) echo 16671 ;;
    esac
}

# Starts a server in the background; sets SERVER_PID once its port accepts connections.
# `start_server NAME idle` gives every server the same 120 s PING interval (charla's and
# ngIRCd's default; ngIRCd's config has it already) so that an idle hold past 120 s includes
# a round of PINGs to every client, as idle clients of a real server get.
start_server() {
    local name=$1 port pid
    port=$(port_of "$name")
    sed "s#@RUN@#$RUN#g" "$PEERS_DIR/ngircd.conf" > "$RUN/ngircd.conf"
    sed "s#@RUN@#$RUN#g" "$PEERS_DIR/inspircd.conf" > "$RUN/inspircd.conf"
    sed "s#@RUN@#$RUN#g" "$PEERS_DIR/charla.toml" > "$RUN/charla.toml"
    if [ "${2:-}" = idle ]; then
        sed -i -e 's/^ping_interval_secs = .*/ping_interval_secs = 120/' \
            -e 's/^ping_timeout_secs = .*/ping_timeout_secs = 60/' "$RUN/charla.toml"
        sed -i 's/pingfreq="[0-9]*"/pingfreq="120"/' "$RUN/inspircd.conf"
    fi
    sed "s#@RUN@#$RUN#g" "$PEERS_DIR/charla-defaults.toml" > "$RUN/charla-defaults.toml"
    # charla with history off: the bench config on its own ports and data directory.
    sed -e "s#@RUN@/charla-data#$RUN/charla-data-nohistory#" -e "s#127.0.0.1:16667#127.0.0.1:16671#" \
        -e "s#127.0.0.1:16677#127.0.0.1:16681#" "$PEERS_DIR/charla.toml" > "$RUN/charla-nohistory.toml"
    printf '\n[history]\n# Off (compare.sh): messages are relayed only.\nenabled = false\n' \
        >> "$RUN/charla-nohistory.toml"
    case "$name" in
        charla) RUST_LOG=warn "${SERVER_PIN[@]}" "$CHARLA" --config "$RUN/charla.toml" \
                    > "$RUN/$name.log" 2>&1 & pid=$! ;;
        charla-defaults) RUST_LOG=warn "${SERVER_PIN[@]}" "$CHARLA" --config "$RUN/charla-defaults.toml" \
                    > "$RUN/$name.log" 2>&1 & pid=$! ;;
        charla-nohistory) RUST_LOG=warn "${SERVER_PIN[@]}" "$CHARLA" --config "$RUN/charla-nohistory.toml" \
                    > "$RUN/$name.log" 2>&1 & pid=$! ;;
        ngircd) "${SERVER_PIN[@]}" ngircd --nodaemon --config "$RUN/ngircd.conf" > "$RUN/$name.log" 2>&1 & pid=$! ;;
        inspircd)
            local asroot=()
            [ "$(id -u)" -eq 0 ] && asroot=(--runasroot)
            "${SERVER_PIN[@]}" inspircd --nofork "${asroot[@]}" --config="$RUN/inspircd.conf" \
                > "$RUN/$name.log" 2>&1 & pid=$! ;;
    esac
    STARTED+=("$pid")
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            SERVER_PID=$pid
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "compare.sh: $name did not come up on port $port; see $RUN/$name.log" >&2
    return 1
}

stop_server() {
    kill "$1" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$1" 2>/dev/null || true
}

# run_bench LABEL PID PORT SCENARIO [ARGS...]: one scenario, its JSON kept in $RUN as
# LABEL.NAME.json, NAME being $RESULT_NAME if set, else the scenario.
run_bench() {
    local label=$1 pid=$2 port=$3 scenario=$4 name=${RESULT_NAME:-$4}
    shift 4
    log "$label: $name: $scenario $*"
    "${GENERATOR_PIN[@]}" "$BENCH" "$scenario" --addr "127.0.0.1:$port" --pid "$pid" --label "$label" --json "$@" \
        > "$RUN/$label.$name.json" 2> "$RUN/$label.$name.err" || true
    # Let the server settle (closed sockets, freed memory) before the next scenario.
    sleep 2
}

# --- the measured scenarios, one server at a time ---------------------------------------
for server in charla $PEERS; do
    # connect first, on a fresh server, so that RSS per client is not blurred by reuse. From 16
    # loopback source addresses: with one, the generator's own connect() spends 40% of its CPU
    # in the kernel's search for a free ephemeral port (__inet_hash_connect), and halves the
    # registration rate of every server alike. The clients are then held --idle-hold seconds
    # doing nothing but answer PINGs: the server's idle CPU and wake-ups (issue 16).
    start_server "$server" idle
    run_bench "$server" "$SERVER_PID" "$(port_of "$server")" connect --clients "$CLIENTS" \
        --hold "$IDLE_HOLD" --spread-ips 16 --concurrency "$(connect_concurrency_of "$server")" \
        --timeout $((300 + IDLE_HOLD))
    stop_server "$SERVER_PID"
    start_server "$server"
    pid=$SERVER_PID
    port=$(port_of "$server")
    run_bench "$server" "$pid" "$port" direct --pairs "$PAIRS" --rate "$DIRECT_RATE" \
        --duration "$DURATION" --concurrency 16 --timeout 300
    run_bench "$server" "$pid" "$port" history --timeout 120
    # A join storm (issue 16): --storm-joiners clients join a channel of --storm-members at
    # once while probe pairs chat elsewhere, then all change their nick, all PART, and all QUIT
    # at once; the probes' p99 during each, against 20 ms. In --rounds runs back to back (each
    # storm's clients all leave at its end), the table giving medians: a p99 of a few hundred
    # probe lines is one run's worst few, and a shared machine's noise moves it by as much.
    for round in $(seq 1 "$ROUNDS"); do
        RESULT_NAME=join-storm.r$round run_bench "$server" "$pid" "$port" join-storm \
            --members "$STORM_MEMBERS" --joiners "$STORM_JOINERS" --duration "$DURATION" \
            --spread-ips 16 --concurrency "$(connect_concurrency_of "$server")" --timeout 600
    done
    if [ "$server" = charla ]; then
        # CHATHISTORY under load (issue 12): LATEST <chan> * 100 at a fixed rate, spread over
        # many clients, latency from each request's due time to its answer.
        RESULT_NAME=history-rate run_bench charla "$pid" "$port" history --rate "$HISTORY_RATE" \
            --clients "$HISTORY_CLIENTS" --limit 100 --duration "$DURATION" --concurrency 32 \
            --timeout 120
    fi
    if [ "$ABUSE" = 1 ]; then
        # The kernel takes up to 4 MiB per socket (tcp_wmem) before a server's own queue
        # grows, so each slow client must be sent well over 5 MiB: 1,000 x 400 B x 30 s.
        run_bench "$server" "$pid" "$port" slow-readers --clients "$SLOW" --senders 10 \
            --rate 1000 --duration 30 --concurrency 16 --timeout 300
        # Clients that never read ask for big replies (issue 10): RSS per non-reader against
        # the SendQ (1 MiB in every config), and whether it comes back after they leave.
        run_bench "$server" "$pid" "$port" big-replies --channels "$BIG_CHANNELS" \
            --clients "$BIG_CLIENTS" --sendq-kib 1024 --concurrency 16 --timeout 300
        # The costliest WHO masks and a many-star ban, as fast as they are answered.
        run_bench "$server" "$pid" "$port" expensive-queries --users "$QUERY_USERS" \
            --duration "$DURATION" --concurrency 16 --timeout 300
    fi
    stop_server "$pid"
    if [ "$server" = charla ]; then
        # connect over TLS (charla's second listener), on a fresh server again; the peers have
        # no TLS port configured. Every client a new one (full handshakes, no resumption).
        start_server charla
        RESULT_NAME=connect-tls run_bench charla "$SERVER_PID" 16677 connect --tls \
            --spread-ips 16 --clients "$TLS_CLIENTS" --hold 3 --concurrency "$(connect_concurrency_of charla)" \
            --timeout 300
        stop_server "$SERVER_PID"
    fi
    if [ "$server" = charla ] || [ "$HUGE_PEERS" = 1 ]; then
        # A huge channel (issue 16): --huge-members in one channel (each JOIN to every member
        # already in: the set-up alone is N^2/2 JOIN lines), then 20 of them send 100 msg/s in
        # all for 10 s. On a fresh server.
        start_server "$server"
        RESULT_NAME=huge run_bench "$server" "$SERVER_PID" "$port" fanout \
            --members "$HUGE_MEMBERS" --senders 20 --rate 100 --duration 10 --spread-ips 16 \
            --concurrency "$(connect_concurrency_of "$server")" --timeout 900
        stop_server "$SERVER_PID"
    fi
done

# --- fan-out in rounds, the servers in turn ----------------------------------------------
# Every server is up at once (on its own port; the idle ones cost nothing), and each round runs
# both fan-out scenarios against each in turn, starting one server later every round. charla
# also runs with history off (charla-nohistory), for the history on / off table.
ORDER=(charla charla-nohistory $PEERS)
declare -A PID_OF
for server in "${ORDER[@]}"; do
    start_server "$server"
    PID_OF[$server]=$SERVER_PID
done
# Durable messages per second (issue 12), history on then off, back to back: the rate steps up
# until a step is not held (p99 over 100 ms, a lost delivery, or the senders held back). The
# database's growth is measured in charla's data directory.
for server in charla charla-nohistory; do
    data="$RUN/charla-data"
    [ "$server" = charla-nohistory ] && data="$RUN/charla-data-nohistory"
    run_bench "$server" "${PID_OF[$server]}" "$(port_of "$server")" durable \
        --channels "$DURABLE_CHANNELS" --members 3 --duration "$DURABLE_STEP" \
        --data-dir "$data" --concurrency 32 --timeout 300
done
# The rotation is over units, charla with history on and off being one unit (in turn first), so
# that those two always run back to back.
UNITS=("charla charla-nohistory" $PEERS)
for round in $(seq 1 "$ROUNDS"); do
    turn=()
    for i in "${!UNITS[@]}"; do
        unit=${UNITS[$(( (i + round - 1) % ${#UNITS[@]} ))]}
        if [ "$unit" = "charla charla-nohistory" ] && [ $((round % 2)) = 0 ]; then
            unit="charla-nohistory charla"
        fi
        turn+=($unit)
    done
    for server in "${turn[@]}"; do
        pid=${PID_OF[$server]}
        port=$(port_of "$server")
        RESULT_NAME=fanout-low.r$round run_bench "$server" "$pid" "$port" fanout \
            --members "$MEMBERS" --senders "$SENDERS" --rate "$LOW_RATE" --duration "$DURATION" \
            --concurrency "$(connect_concurrency_of "$server")" --timeout 300
        RESULT_NAME=fanout.r$round run_bench "$server" "$pid" "$port" fanout \
            --members "$MEMBERS" --senders "$SENDERS" --rate "$RATE" --duration "$DURATION" \
            --concurrency "$(connect_concurrency_of "$server")" --timeout 300
        # The issue's latency target is stated at 4,000,000 deliveries/s: 8,000 msg/s to 499.
        RESULT_NAME=fanout-4m.r$round run_bench "$server" "$pid" "$port" fanout \
            --members "$MEMBERS" --senders "$SENDERS" --rate "$HIGH_RATE" --duration 5 \
            --concurrency "$(connect_concurrency_of "$server")" --timeout 300
    done
done
for server in "${ORDER[@]}"; do
    stop_server "${PID_OF[$server]}"
done

# --- abuse with charla's default limits -------------------------------------------------
if [ "$ABUSE" = 1 ]; then
    start_server charla-defaults
    pid=$SERVER_PID
    port=$(port_of charla-defaults)
    run_bench charla-defaults "$pid" "$port" flood --duration 10 --timeout 120
    run_bench charla-defaults "$pid" "$port" conn-storm --connections 2000 --timeout 120
    run_bench charla-defaults "$pid" "$port" garbage --timeout 120
    # The registration timeout is 60 s by default: wait a little longer.
    run_bench charla-defaults "$pid" "$port" half-register --clients 1000 --wait 75 \
        --spread-ips 250 --timeout 200
    stop_server "$pid"
fi

# --- the table --------------------------------------------------------------------------
PARAMS="fanout ${MEMBERS} members/${SENDERS} senders at ${RATE} msg/s for ${DURATION} s (fanout-low: ${LOW_RATE} msg/s; fanout-4m: ${HIGH_RATE} msg/s for 5 s); connect ${CLIENTS} clients held ${IDLE_HOLD} s; connect-tls ${TLS_CLIENTS} clients; huge: ${HUGE_MEMBERS} members, 20 senders at 100 msg/s; direct ${PAIRS} pairs at ${DIRECT_RATE} msg/s; slow-readers ${SLOW}; big-replies ${BIG_CLIENTS} non-readers on ${BIG_CHANNELS} channels; expensive-queries against ${QUERY_USERS} users; durable ${DURABLE_CHANNELS} channels x 3 members, ${DURABLE_STEP} s steps; history-rate ${HISTORY_RATE} req/s over ${HISTORY_CLIENTS} clients; join-storm ${STORM_JOINERS} joining ${STORM_MEMBERS} members"
python3 "$ROOT/bench/table.py" "$RUN" "charla $PEERS" "$PARAMS" | tee "$RUN/table.md"
if [ -n "$OUT" ]; then
    cp "$RUN/table.md" "$OUT"
fi
