#!/usr/bin/env bash
# bench/cluster.sh: natter as a three-node cluster on NATS JetStream (three
# nats-server processes, the log replicated three times) side by side with
# one durable natter node, in one run on this machine. Clients are spread
# over the cluster's nodes round robin (natter-bench -s A,B,C).
#
# For each scenario and each of --rounds rounds, a fresh single node and a
# fresh cluster (new NATS store) are measured in turn; the table shows the
# median of each and the ratio cluster/single. CPU is every process of the
# configuration (natter nodes, and nats-servers for the cluster), read from
# /proc before and after the run, divided by deliveries: the cost of the
# cluster per delivered message.
#
# Needs Debian's nats-server (apt-get install nats-server).
# Usage: bench/cluster.sh [--rounds N (3)] [--quick]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=3
QUICK=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift ;;
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 1 ;;
  esac
  shift
done
NATS=$(command -v nats-server || echo /usr/sbin/nats-server)
[ -x "$NATS" ] || { echo "nats-server is missing: apt-get install nats-server" >&2; exit 1; }
(cd "$ROOT" && cargo build --release --quiet --bin natter-server --bin natter-bench)
SERVER=$ROOT/target/release/natter-server
BENCH=$ROOT/target/release/natter-bench
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; sleep 0.3; rm -rf "$WORK"' EXIT

# CPU ticks (user + system) of the given pids, summed.
ticks() { local t=0; for p in "$@"; do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
HZ=$(getconf CLK_TCK)

wait_port() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

start_nats() {
  rm -rf "$WORK/nats"; mkdir -p "$WORK/nats"
  NATS_PIDS=()
  for i in 0 1 2; do
    cat > "$WORK/nats/n$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:$((4301 + i))
http: 127.0.0.1:$((8301 + i))
jetstream { store_dir: "$WORK/nats/s$i" }
cluster { name: bench, listen: 127.0.0.1:$((6301 + i)), routes: [nats-route://127.0.0.1:6301, nats-route://127.0.0.1:6302, nats-route://127.0.0.1:6303] }
CONF
    "$NATS" -c "$WORK/nats/n$i.conf" >"$WORK/nats/n$i.log" 2>&1 &
    NATS_PIDS+=($!)
  done
  for i in 0 1 2; do
    for _ in $(seq 1 100); do
      curl -sf "http://127.0.0.1:$((8301 + i))/healthz?js-enabled-only=true" >/dev/null 2>&1 && break
      sleep 0.1
    done
  done
}

URLS="--cluster nats://127.0.0.1:4301 --cluster nats://127.0.0.1:4302 --cluster nats://127.0.0.1:4303"

# start_config single|cluster -> sets PIDS (every process to count) and ADDRS
start_config() {
  PIDS=(); ADDRS=""
  if [ "$1" = single ]; then
    rm -rf "$WORK/single"; mkdir -p "$WORK/single"
    "$SERVER" 7461 --bind 127.0.0.1 --flood-rate 0 --data-dir "$WORK/single" \
      --log-file "$WORK/single/server.log" 2>/dev/null &
    PIDS=($!); wait_port 7461; ADDRS=127.0.0.1:7461
  else
    start_nats
    PIDS=("${NATS_PIDS[@]}")
    for i in 0 1 2; do
      mkdir -p "$WORK/node$i"
      # shellcheck disable=SC2086
      "$SERVER" $((7471 + i)) --bind 127.0.0.1 --flood-rate 0 --node-name "node$i" $URLS \
        --log-file "$WORK/node$i/server.log" 2>/dev/null &
      PIDS+=($!)
    done
    for i in 0 1 2; do wait_port $((7471 + i)); done
    ADDRS=127.0.0.1:7471,127.0.0.1:7472,127.0.0.1:7473
  fi
}

stop_config() { kill "${PIDS[@]}" 2>/dev/null || true; wait "${PIDS[@]}" 2>/dev/null || true; }

if [ -n "$QUICK" ]; then M=300; RATE=1000; else M=1000; RATE=2000; fi
SCENARIOS=(
  "fanout-30|fanout -n 30 --senders 10 -m $M"
  "fanout-300|fanout -n 300 --senders 10 -m $((M / 2))"
  "rooms|rooms --rooms 100 -n 5 -m $((M / 5))"
  "paced-30|fanout -n 30 --senders 10 -m $((M / 2)) --rate $RATE"
)

printf '| scenario | config | deliveries/s | p99 ms | CPU µs per delivery | lost |\n|---|---|---|---|---|---|\n' > "$WORK/table.md"
for entry in "${SCENARIOS[@]}"; do
  name=${entry%%|*}; args=${entry#*|}
  for config in single cluster; do
    : > "$WORK/$name-$config.tsv"
  done
  for round in $(seq 1 "$ROUNDS"); do
    for config in single cluster; do
      start_config "$config"
      before=$(ticks "${PIDS[@]}")
      # shellcheck disable=SC2086
      json=$("$BENCH" -q -s "$ADDRS" --timeout 180 $args --json || true)
      sleep 1 # work the servers still do after the last delivery counts too
      after=$(ticks "${PIDS[@]}")
      stop_config
      python3 - "$json" "$before" "$after" "$HZ" >> "$WORK/$name-$config.tsv" <<'PY'
import json, sys
d = json.loads(sys.argv[1]) if sys.argv[1].strip() else {}
cpu = (int(sys.argv[3]) - int(sys.argv[2])) / int(sys.argv[4])
dl = d.get("deliveries", 0) or 0
print(f"{d.get('deliveries_per_sec', 0):.0f}\t{(d.get('latency') or {}).get('p99_ms', 0):.2f}\t{(cpu * 1e6 / dl) if dl else 0:.2f}\t{d.get('lost', -1)}")
PY
      echo "== $name $config round $round: $(tail -1 "$WORK/$name-$config.tsv")" >&2
    done
  done
  python3 - "$name" "$WORK/$name-single.tsv" "$WORK/$name-cluster.tsv" >> "$WORK/table.md" <<'PY'
import statistics, sys
name, single, cluster = sys.argv[1:4]
def rows(path):
    return [list(map(float, l.split("\t"))) for l in open(path) if l.strip()]
def med(rs, i):
    return statistics.median(r[i] for r in rs)
s, c = rows(single), rows(cluster)
for label, rs in (("one node (durable)", s), ("3 nodes + 3 NATS (R3)", c)):
    spread = f"{min(r[0] for r in rs):.0f}–{max(r[0] for r in rs):.0f}"
    print(f"| {name} | {label} | {med(rs,0):,.0f} ({spread}) | {med(rs,1):.1f} | {med(rs,2):.2f} | {int(max(r[3] for r in rs))} |")
print(f"| {name} | cluster ÷ one node | {med(c,0)/med(s,0):.2f}× | {med(c,1)/max(med(s,1),1e-9):.2f}× | {med(c,2)/max(med(s,2),1e-9):.2f}× | |")
PY
done
cat "$WORK/table.md"
