#!/usr/bin/env bash
# bench/compare.sh: natter-server side by side with ngircd and InspIRCd.
#
# Installs the peers from Debian's packages, writes their configs from the
# templates in bench/ (127.0.0.1 only, flood and per-IP limits lifted), builds
# natter in release, then --runs times (default 3) for each server and each
# scenario starts a fresh server, runs natter-bench against it with --json,
# and stops it. The rounds go server after server (round 1 of every server,
# then round 2, ...), so machine noise hits every server alike, and each
# round starts one server further along the list, so that no server always
# runs first. Finally writes BENCHMARKS.md and bench/fanout.svg
# (bench/report.py): the median of the runs, with their spread (min–max),
# for every number.
#
# Servers: natter (as shipped, durable history), natter_mem (--no-persist),
# natter_tls (natter_mem with natter-bench on its TLS port, --tls, self-signed
# certificate; fanout scenarios only), natter_ws (natter_mem with natter-bench
# on its --web-port, --ws; fanout scenarios only), ngircd, inspircd.
# Scenarios: fanout at several room sizes, rooms, idle, connect, latency
# (fanout at a fixed rate) and community (thousands of clients in rooms of
# Zipf-distributed sizes at a fixed rate, with PART/re-JOIN and
# QUIT/reconnect churn). With --pid natter-bench also charges each run the
# server CPU it spends after the measured phase until it goes idle.
#
# Usage: bench/compare.sh [--quick] [--runs N] [--servers "natter natter_mem natter_tls natter_ws ngircd inspircd"]
#                         [--out FILE] [--svg FILE] [--results DIR]
#                         [--no-install] [--no-build] [--note TEXT]
#                         [--scenarios "fanout-10 fanout-100 ..."]
# --quick runs small sizes (about a minute a server) to validate the pipeline, one run
# each unless --runs says otherwise. --runs N: fresh-server runs per server
# and scenario (default 3). --scenarios runs only the named ones (ids as in
# bench/results: fanout-N, rooms, idle, connect, latency, community; a
# trailing * matches a prefix, e.g. 'fanout-*'); use it with its own
# --results and --out, since the report covers what that directory holds.
# Loopback only; every run is bounded by natter-bench's --timeout.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
QUICK=0
RUNS=""
SERVERS="natter natter_mem natter_tls natter_ws ngircd inspircd"
OUT="$ROOT/BENCHMARKS.md"
SVG="$ROOT/bench/fanout.svg"
NOTE=""
RESULTS=""
INSTALL=1
BUILD=1
ONLY=
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --runs) RUNS="$2"; shift ;;
    --servers) SERVERS="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    --svg) SVG="$2"; shift ;;
    --note) NOTE="$2"; shift ;;
    --results) RESULTS="$2"; shift ;;
    --no-install) INSTALL=0 ;;
    --no-build) BUILD=0 ;;
    --scenarios) ONLY="$2"; shift ;;
    -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 1 ;;
  esac
  shift
done
if [ -z "$RUNS" ]; then
  if [ "$QUICK" = 1 ]; then RUNS=1; else RUNS=3; fi
fi
case "$RUNS" in
  ''|*[!0-9]*|0) echo "compare.sh: --runs needs a whole number of at least 1, not '$RUNS'" >&2; exit 1 ;;
esac
if [ -z "$RESULTS" ]; then
  if [ "$QUICK" = 1 ]; then RESULTS="$ROOT/bench/results-quick"; else RESULTS="$ROOT/bench/results"; fi
fi

log() { echo "== $*" >&2; }

# Ports (loopback only).
PORT_natter=16669
PORT_natter_mem=16670
PORT_natter_tls=16671
PORT_natter_ws=16673
# The port natter-bench drives, where it is not PORT_name: natter_tls's TLS
# port, natter_ws's web port.
BENCHPORT_natter_tls=16672
BENCHPORT_natter_ws=16674
# Extra natter-bench options per server.
BENCHOPTS_natter_tls="--tls"
BENCHOPTS_natter_ws="--ws"
PORT_ngircd=16667
PORT_inspircd=16668
# Handshakes in flight: ngircd's listen backlog is 10 (more means SYN drops
# and 1 s retransmits); InspIRCd registers on a 1 s tick, so it needs many.
CONC_natter=100
CONC_natter_mem=100
CONC_natter_tls=100
CONC_natter_ws=100
CONC_ngircd=10
CONC_inspircd=2000

# ---------------------------------------------------------------- install
if [ "$INSTALL" = 1 ]; then
  if ! command -v ngircd >/dev/null || ! command -v inspircd >/dev/null; then
    log "installing ngircd and inspircd (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ngircd inspircd >/dev/null
  fi
fi
NGIRCD=$(command -v ngircd || echo /usr/sbin/ngircd)
INSPIRCD=$(command -v inspircd || echo /usr/sbin/inspircd)

# ---------------------------------------------------------------- build
if [ "$BUILD" = 1 ]; then
  log "building natter (release)"
  (cd "$ROOT" && cargo build --release --bins)
fi
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BENCH="$TARGET_DIR/release/natter-bench"
NATTER="$TARGET_DIR/release/natter-server"
[ -x "$BENCH" ] || { echo "compare.sh: $BENCH missing; run without --no-build" >&2; exit 1; }

# ---------------------------------------------------------------- configs
WORK=$(mktemp -d /tmp/natter-compare.XXXXXX)
chmod 755 "$WORK"
mkdir -p "$WORK/run" "$WORK/conf.d"
echo "natter benchmark peer" > "$WORK/motd.txt"
: > "$WORK/Commands.txt"
sed -e "s#{DIR}#$WORK#g" -e "s#{PORT}#$PORT_ngircd#g" "$ROOT/bench/ngircd.conf.template" > "$WORK/ngircd.conf"
sed -e "s#{DIR}#$WORK#g" -e "s#{PORT}#$PORT_inspircd#g" "$ROOT/bench/inspircd.conf.template" > "$WORK/inspircd.conf"
if id irc >/dev/null 2>&1; then chown -R irc:irc "$WORK"; fi
mkdir -p "$RESULTS"
rm -f "$RESULTS"/*.json "$RESULTS"/*.err "$RESULTS"/commands.txt "$RESULTS"/meta.txt

# Every server and natter-bench get the hard open-file limit.
ulimit -n "$(ulimit -Hn)"

SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
trap stop_server EXIT

# Peers run as user irc (InspIRCd refuses root). setpriv execs, so $! is the
# server's own pid (what --pid needs), not a wrapper's.
RUNAS=()
if [ "$(id -u)" = 0 ]; then RUNAS=(setpriv --reuid=irc --regid=irc --clear-groups); fi

# bench_port NAME: the port natter-bench drives (the TLS port for natter_tls).
bench_port() {
  local p
  p=$(eval echo "\${BENCHPORT_$1:-}")
  [ -n "$p" ] || p=$(eval echo "\$PORT_$1")
  echo "$p"
}

# natter_tls's self-signed certificate, made once (natter-server prints how to
# connect and exits); natter-bench --tls does not verify it.
TLS_CERT="$WORK/natter_tls-cert.pem"
TLS_KEY="$WORK/natter_tls-key.pem"
make_tls_cert() {
  [ -s "$TLS_CERT" ] && [ -s "$TLS_KEY" ] && return 0
  "$NATTER" --tls-self-signed 127.0.0.1 --tls-cert "$TLS_CERT" --tls-key "$TLS_KEY" \
    >>"$WORK/natter_tls.out" 2>&1
}

# start_server NAME: start a fresh server, set SERVER_PID, wait for its port
# (and, for natter_tls, for the TLS port natter-bench drives).
start_server() {
  local name=$1 port bport
  port=$(eval echo "\$PORT_$name")
  bport=$(bench_port "$name")
  for p in $port $bport; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "compare.sh: something already listens on 127.0.0.1:$p; stop it first" >&2
      return 1
    fi
  done
  case "$name" in
    ngircd) "${RUNAS[@]}" "$NGIRCD" --nodaemon --config "$WORK/ngircd.conf" >>"$WORK/ngircd.out" 2>&1 & ;;
    inspircd) "${RUNAS[@]}" "$INSPIRCD" --nofork --config "$WORK/inspircd.conf" >>"$WORK/inspircd.out" 2>&1 & ;;
    # natter as shipped: every message committed to SQLite before it is sent
    # (a fresh database per scenario, so no run inherits another's history).
    natter) rm -rf "$WORK/natter-data" && mkdir -p "$WORK/natter-data"
      "$NATTER" "$port" --bind 127.0.0.1 --flood-rate 0 --data-dir "$WORK/natter-data" \
        --log-file "$WORK/natter-server.log" >>"$WORK/natter.out" 2>&1 & ;;
    # natter with history in memory only: the cost of durability is natter ÷ natter_mem.
    natter_mem) "$NATTER" "$port" --bind 127.0.0.1 --flood-rate 0 --no-persist \
        --log-file "$WORK/natter_mem-server.log" >>"$WORK/natter_mem.out" 2>&1 & ;;
    # natter_mem with the clients on its TLS port: the cost of TLS is natter_tls ÷ natter_mem.
    natter_tls) make_tls_cert || return 1
      "$NATTER" "$port" --bind 127.0.0.1 --flood-rate 0 --no-persist \
        --tls-cert "$TLS_CERT" --tls-key "$TLS_KEY" --tls-port "$bport" \
        --data-dir "$WORK/natter_tls-data" \
        --log-file "$WORK/natter_tls-server.log" >>"$WORK/natter_tls.out" 2>&1 & ;;
    # natter_mem with the clients on its web port: the cost of WebSocket is natter_ws ÷ natter_mem.
    natter_ws) "$NATTER" "$port" --bind 127.0.0.1 --flood-rate 0 --no-persist \
        --web-port "$bport" --log-file "$WORK/natter_ws-server.log" >>"$WORK/natter_ws.out" 2>&1 & ;;
  esac
  SERVER_PID=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$bport") 2>/dev/null; then
      sleep 0.2
      # Still alive, so the listener is ours and not a leftover.
      kill -0 "$SERVER_PID" 2>/dev/null && return 0
      break
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "compare.sh: $name did not start listening on 127.0.0.1:$bport; see $WORK/$name.out" >&2
  stop_server
  return 1
}

# ---------------------------------------------------------------- scenarios
# id|timeout|natter-bench arguments
if [ "$QUICK" = 1 ]; then
  SIZES="10 50 100"; TARGET=100000
  ROOMS="rooms --rooms 20 -n 5 -m 100"
  IDLE="idle -n 500 --room-size 10 --hold 1"
  CONNECT="connect -n 300"
  LAT="fanout -n 50 --senders 5 -m 100 --rate 500"
  COMMUNITY="community -n 200 --rooms 30 --duration 10 --rate 1000 --churn 10 --seed 1"
  COMMUNITY_TMO=120
else
  SIZES="10 100 500 1000"; TARGET=10000000
  ROOMS="rooms --rooms 200 -n 5 -m 500"
  IDLE="idle -n 10000 --room-size 10 --hold 5"
  CONNECT="connect -n 5000"
  # 1,000 msg/s into a 100-member room (99,000 deliveries/s) for 10 s.
  LAT="fanout -n 100 --senders 10 -m 1000 --rate 1000"
  # 2,000 clients in 300 rooms (largest 500), 1,000 msg/s (about 51,000
  # deliveries/s), 20 churn events/s, for 60 s. At 2,000 msg/s ngircd needs
  # over a core (about 0.76 for the messages, the rest for the churn) beside
  # natter-bench's 0.65, and in a check here it fell behind accepting
  # reconnects, which then failed with a reset: not a load every peer carries.
  COMMUNITY="community -n 2000 --rooms 300 --duration 60 --rate 1000 --churn 20 --seed 1"
  COMMUNITY_TMO=300
fi
SCENARIOS=()
for n in $SIZES; do
  s=$(( n < 10 ? n : 10 ))
  m=$(( TARGET / (s * (n - 1)) ))
  [ "$m" -lt 50 ] && m=50
  [ "$m" -gt 100000 ] && m=100000
  SCENARIOS+=("fanout-$n|300|fanout -n $n --senders $s -m $m")
done
SCENARIOS+=("rooms|300|$ROOMS" "idle|300|$IDLE" "connect|300|$CONNECT" "latency|120|$LAT"
  "community|$COMMUNITY_TMO|$COMMUNITY")
if [ -n "$ONLY" ]; then
  KEPT=()
  for sc in "${SCENARIOS[@]}"; do
    id=${sc%%|*}
    for want in $ONLY; do
      # shellcheck disable=SC2053
      if [[ "$id" == $want ]]; then KEPT+=("$sc"); break; fi
    done
  done
  if [ "${#KEPT[@]}" = 0 ]; then
    echo "compare.sh: --scenarios '$ONLY' matches none of: $(printf '%s ' "${SCENARIOS[@]%%|*}")" >&2
    exit 1
  fi
  SCENARIOS=("${KEPT[@]}")
fi

# ---------------------------------------------------------------- runs
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "mode: $([ "$QUICK" = 1 ] && echo quick || echo full)"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel: $(uname -r)"
  echo "nofile: $(ulimit -Hn)"
  echo "natter: $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "ngircd: $("$NGIRCD" --version 2>/dev/null | head -1 || echo missing)"
  echo "inspircd: $("$INSPIRCD" --version 2>/dev/null | head -1 || echo missing)"
  echo "servers: $SERVERS"
  [ -z "$ONLY" ] || echo "scenarios: $ONLY"
  echo "runs: $RUNS"
  [ -z "$NOTE" ] || echo "note: $NOTE"
} > "$RESULTS/meta.txt"

# $1 (a list of words) rotated left by $2: round r starts at its r-th server.
rotated() {
  local -a words=($1)
  local n=${#words[@]} k=$(( $2 % ${#words[@]} ))
  echo "${words[@]:k:n-k}" "${words[@]:0:k}"
}

# Results: RESULTS/{server}-{scenario}.{run}.json (run 1..N).
SKIPPED=" "
for run in $(seq "$RUNS"); do
for name in $(rotated "$SERVERS" $((run - 1))); do
  [[ "$SKIPPED" == *" $name "* ]] && continue
  if [[ "$name" == natter* ]] && [ ! -x "$NATTER" ]; then
    log "natter-server not built ($NATTER missing): skipping natter"
    echo "skipped $name: $NATTER missing" >> "$RESULTS/meta.txt"
    SKIPPED="$SKIPPED$name "
    continue
  fi
  port=$(bench_port "$name")
  conc=$(eval echo "\$CONC_$name")
  opts=$(eval echo "\${BENCHOPTS_$name:-}")
  for sc in "${SCENARIOS[@]}"; do
    IFS='|' read -r id tmo args <<<"$sc"
    # natter_tls and natter_ws measure what TLS and WebSocket cost a busy room: fanout only.
    if [[ "$name" == natter_tls || "$name" == natter_ws ]] && [[ "$id" != fanout-* ]]; then continue; fi
    log "$name: $id run $run/$RUNS (${opts:+$opts }$args)"
    if ! start_server "$name"; then
      log "$name did not start: skipping its remaining scenarios"
      echo "skipped $name: it did not start listening on 127.0.0.1:$port (see its output in $WORK)" >> "$RESULTS/meta.txt"
      SKIPPED="$SKIPPED$name "
      break
    fi
    # shellcheck disable=SC2086
    cmd="natter-bench${opts:+ $opts} -s 127.0.0.1:$port --pid \$PID -c $conc --timeout $tmo --json --quiet $args"
    [ "$run" = 1 ] && echo "$name $id: $cmd" >> "$RESULTS/commands.txt"
    out="$RESULTS/$name-$id.$run"
    set +e
    # shellcheck disable=SC2086
    "$BENCH" $opts -s "127.0.0.1:$port" --pid "$SERVER_PID" -c "$conc" --timeout "$tmo" --json --quiet \
      $args > "$out.json" 2> "$out.err"
    rc=$?
    set -e
    [ "$rc" = 0 ] || log "$name $id run $run: natter-bench exit $rc: $(tail -1 "$out.err")"
    [ -s "$out.err" ] || rm -f "$out.err"
    stop_server
    sleep 1
  done
done
done

log "writing $OUT and $SVG"
python3 "$ROOT/bench/report.py" --results "$RESULTS" --out "$OUT" --svg "$SVG"
log "done; server logs in $WORK"
