#!/usr/bin/env bash
# bench/variants.sh: several natter-server variants (builds, or one build
# with different options) side by side in one run.
#
# For each round, each scenario and each variant in turn (A, B, C, A, B,
# C, ...: machine noise hits all alike) starts a fresh server, runs
# natter-bench --json --pid against it and stops it. Prints per scenario
# and variant the medians of throughput (deliveries/s; connect:
# registrations/s), server CPU per delivery until idle (µs; connect: per
# registration) and p99 latency, with every run's CPU figure and how many
# messages each run lost.
#
# Usage: bench/variants.sh BENCH_BIN ROUNDS "LABEL|SERVER_BIN|EXTRA ARGS" ... -- "NAME|BENCH ARGS" ...
# e.g. bench/variants.sh target/release/natter-bench 3 \
#        "off|target/release/natter-server|--coalesce-ms 0" \
#        "on|target/release/natter-server|" \
#        -- "latency|fanout -n 100 --senders 10 -m 1000 --rate 1000"
# Each server runs durable (add --no-persist to EXTRA ARGS for memory only)
# with --flood-rate 0, in a temporary directory, on 127.0.0.1; ports from
# VARIANTS_FIRST_PORT (7400) up.
set -uo pipefail
BENCH=$(realpath "$1"); ROUNDS=$2; shift 2
VARIANTS=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do VARIANTS+=("$1"); shift; done
[ $# -gt 0 ] && shift
SCENARIOS=("$@")
if [ ${#VARIANTS[@]} -eq 0 ] || [ ${#SCENARIOS[@]} -eq 0 ]; then
  sed -n '2,18p' "$0"; exit 1
fi
# VARIANTS_OUT=DIR keeps each run's JSON there (DIR/NAME.LABEL.ROUND.json).
if [ -n "${VARIANTS_OUT:-}" ]; then
  OUT=$VARIANTS_OUT; mkdir -p "$OUT"
else
  OUT=$(mktemp -d)
  trap 'rm -rf "$OUT"' EXIT
fi
PORT=${VARIANTS_FIRST_PORT:-7400}
ulimit -n "$(ulimit -Hn)"
for round in $(seq "$ROUNDS"); do
  for s in "${SCENARIOS[@]}"; do
    name=${s%%|*}; args=${s#*|}
    for v in "${VARIANTS[@]}"; do
      IFS='|' read -r label bin extra <<<"$v"
      bin=$(realpath "$bin")
      PORT=$((PORT + 1))
      dir=$(mktemp -d -p "$OUT")
      # shellcheck disable=SC2086
      (cd "$dir" && exec "$bin" "$PORT" --bind 127.0.0.1 --log-file "$dir/server.log" \
        --flood-rate 0 $extra 2>"$dir/stderr") &
      pid=$!
      for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
      # shellcheck disable=SC2086
      "$BENCH" -s "127.0.0.1:$PORT" -c 100 --timeout 300 --pid "$pid" --json -q $args \
        >"$OUT/$name.$label.$round.json" || true
      kill -INT "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      rm -rf "$dir"
    done
  done
done

python3 - "$(dirname "$0")" "$OUT" "${SCENARIOS[@]%%|*}" -- "${VARIANTS[@]%%|*}" <<'PY'
import statistics, sys
sys.path.insert(0, sys.argv[1])
from runs import read_runs
out, rest = sys.argv[2], sys.argv[3:]
cut = rest.index("--")
scenarios, variants = rest[:cut], rest[cut + 1:]
runs = read_runs(out)
print("| scenario | variant | throughput | CPU µs per delivery | p99 ms | CPU of each run | lost |")
print("|---|---|---|---|---|---|---|")
for name in scenarios:
    for label in variants:
        xs = runs.get((name, label), [])
        ok = [x for x in xs if x]
        if not ok:
            print(f"| {name} | {label} | no result | | | | |")
            continue
        med = [statistics.median(x[i] for x in ok) for i in range(3)]
        each = ", ".join(f"{x[1]:.3f}" for x in ok)
        lost = ", ".join(str(x[3]) for x in ok)
        failed = len(xs) - len(ok)
        print(f"| {name} | {label} | {med[0]:,.0f} | {med[1]:.3f} | {med[2]:.2f} | {each} | {lost}"
              + (f" ({failed} failed)" if failed else "") + " |")
PY
