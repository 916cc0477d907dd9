#!/usr/bin/env bash
# bench/nodelay-ab.sh ON_BIN OFF_BIN BENCH_BIN [ROUNDS]: the fixed-load
# latency scenario (1,000 msg/s into a 100-member room) against two
# natter-server builds, alternating, --no-persist: ON_BIN as shipped
# (TCP_NODELAY on), OFF_BIN built with `stream.set_nodelay(false)` in
# src/net/accept.rs. Prints server CPU seconds (from /proc/PID/stat, until
# the run ended) and p50/p99 latency from the scheduled send time.
set -euo pipefail
ON=$(realpath "$1"); OFF=$(realpath "$2"); BENCH=$(realpath "$3"); ROUNDS=${4:-3}
DIR=$(mktemp -d); trap 'rm -rf "$DIR"' EXIT
TICK=$(getconf CLK_TCK)
for round in $(seq "$ROUNDS"); do
  for v in on off; do
    if [ "$v" = on ]; then BIN=$ON; else BIN=$OFF; fi
    PORT=$((47200 + round * 10 + ${#v}))
    (cd "$DIR" && exec "$BIN" "$PORT" --bind 127.0.0.1 --flood-rate 0 --no-persist >/dev/null 2>&1) &
    PID=$!; sleep 1
    "$BENCH" -s "127.0.0.1:$PORT" -c 100 --timeout 120 --json --quiet \
      fanout -n 100 --senders 10 -m 1000 --rate 1000 > "$DIR/$v.json"
    sleep 1
    TICKS=$(awk '{print $14 + $15}' "/proc/$PID/stat")
    kill "$PID"; wait "$PID" 2>/dev/null || true
    python3 - "$DIR/$v.json" "$v" "$round" "$TICKS" "$TICK" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
lat = d["latency"]
cpu = int(sys.argv[4]) / int(sys.argv[5])
print(f"nodelay {sys.argv[2]} round {sys.argv[3]}: server CPU {cpu:.2f} s, "
      f"p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms, lost {d['lost']}")
PY
  done
done
