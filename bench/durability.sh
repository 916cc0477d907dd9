#!/usr/bin/env bash
# bench/durability.sh: the cost of durable history, side by side in one run.
#
# Runs three servers, each freshly started for every run and in turn
# (round after round, so machine noise hits all alike): BASE durable (an
# older natter-server binary), THIS durable, and THIS with --no-persist.
# Prints, per scenario, the medians of throughput and of server CPU per
# delivery until idle (per registration for connect), and the durability
# cost: durable CPU / --no-persist CPU, before and after.
#
# Usage: bench/durability.sh BASE_BIN THIS_BIN BENCH_BIN [ROUNDS (3)] [FIRST_PORT (7300)]
# (build them with `cargo build --release --bin natter-server --bin natter-bench`).
set -euo pipefail
BASE=$1; THIS=$2; BENCH=$3; ROUNDS=${4:-3}; PORT=${5:-7300}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
SCENARIOS=(
  "fanout-10|fanout -n 10 --senders 10 -m 30000"
  "fanout-100|fanout -n 100 --senders 10 -m 3000"
  "rooms|rooms --rooms 200 -n 5 -m 500"
  "connect|connect -n 3000"
  "latency|fanout -n 100 --senders 10 -m 1000 --rate 1000"
)
# bench/variants.sh runs them (and leaves its results in $OUT).
VARIANTS_OUT=$OUT VARIANTS_FIRST_PORT=$PORT "$(dirname "$0")/variants.sh" "$BENCH" "$ROUNDS" \
  "before|$BASE|" "after|$THIS|" "mem|$THIS|--no-persist" -- "${SCENARIOS[@]}" >/dev/null

python3 - "$(dirname "$0")" "$OUT" <<'PY'
import statistics, sys
sys.path.insert(0, sys.argv[1])
from runs import read_runs
runs = read_runs(sys.argv[2])
print("| scenario | throughput before / after / --no-persist | CPU µs per delivery before / after / --no-persist | durability cost in CPU, before → after |")
print("|---|---|---|---|")
for name in ["fanout-10", "fanout-100", "rooms", "connect", "latency"]:
    m = {l: [statistics.median(x[i] for x in runs[name, l] if x) for i in (0, 1)]
         for l in ("before", "after", "mem") if any(runs[name, l])}
    if len(m) < 3:
        continue
    print(f"| {name} | {m['before'][0]:,.0f} / {m['after'][0]:,.0f} / {m['mem'][0]:,.0f} "
          f"| {m['before'][1]:.3f} / {m['after'][1]:.3f} / {m['mem'][1]:.3f} "
          f"| {m['before'][1] / m['mem'][1]:.2f}× → {m['after'][1] / m['mem'][1]:.2f}× |")
PY
