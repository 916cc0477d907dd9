#!/usr/bin/env bash
# bench/ab.sh: this working tree's natter-server against another revision's,
# side by side in one run, so a change to the hot path is measured as a ratio.
#
# Builds both in release (the base in a temporary git worktree), then for each
# scenario and each of --rounds rounds starts a fresh server of each build in
# turn (A, B, A, B, ...: machine noise hits both alike), runs natter-bench
# --json against it and prints the median of each and the ratio this/base.
#
# Usage: bench/ab.sh [BASE_REV (default: the merge-base with origin/main,
#                     else HEAD~1)] [--rounds N (3)] [--persist]
# AB_BASE_TARGET=DIR keeps the base build in DIR, to reuse between runs;
# AB_BASE_BIN=PATH uses an already built base natter-server.
# --persist runs both with durable history (the default is --no-persist,
# which isolates the chat core and the shell from the disk).
# For idle the numbers are KiB per connection (lower is better); for the
# others higher is better.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BASE=""
ROUNDS=3
PERSIST="--no-persist"
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift ;;
    --persist) PERSIST="" ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) BASE="$1" ;;
  esac
  shift
done
[ -z "$BASE" ] && BASE=$(git -C "$ROOT" merge-base HEAD origin/main 2>/dev/null || git -C "$ROOT" rev-parse HEAD~1)
WORK=$(mktemp -d)
trap 'git -C "$ROOT" worktree remove --force "$WORK/base" >/dev/null 2>&1 || true; rm -rf "$WORK"; kill $(jobs -p) 2>/dev/null || true' EXIT

echo "== building this tree and $BASE (release)" >&2
(cd "$ROOT" && cargo build --release --quiet --bin natter-server --bin natter-bench)
# AB_BASE_TARGET reuses a build directory for the base between runs.
BASE_TARGET=${AB_BASE_TARGET:-$WORK/target}
if [ -n "${AB_BASE_BIN:-}" ]; then
  OTHER=$AB_BASE_BIN
else
  git -C "$ROOT" worktree add --detach "$WORK/base" "$BASE" >/dev/null 2>&1
  (cd "$WORK/base" && CARGO_TARGET_DIR="$BASE_TARGET" cargo build --release --quiet --bin natter-server)
  OTHER="$BASE_TARGET/release/natter-server"
fi
THIS="$ROOT/target/release/natter-server"
BENCH="$ROOT/target/release/natter-bench"
ulimit -n "$(ulimit -Hn)"

SCENARIOS=(
  "fanout10|fanout -n 10 --senders 10 -m 20000"
  "fanout100|fanout -n 100 --senders 10 -m 2000"
  "rooms|rooms --rooms 200 -n 5 -m 200"
  "connect|connect -n 3000"
  "idle|idle -n 3000 --room-size 10 --hold 2"
)

# run BINARY ARGS...: one fresh server, one natter-bench run; prints the
# throughput (deliveries or registrations per second; for idle, KiB of
# server memory per connection) and the server's CPU microseconds per
# delivery (per registration for connect).

run() {
  local bin=$1; shift
  local dir; dir=$(mktemp -d -p "$WORK")
  # A fresh port each run: the last server may still be closing its sockets.
  PORT=$((17000 + RANDOM % 3000))
  (cd "$dir" && exec "$bin" "$PORT" --bind 127.0.0.1 --log-file "$dir/server.log" --flood-rate 0 $PERSIST 2>"$dir/stderr") &
  local pid=$!
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
  "$BENCH" -s "127.0.0.1:$PORT" -c 100 --timeout 120 --pid "$pid" --json -q "$@" \
    | python3 -c '
import json, sys
r = json.load(sys.stdin)
cpu = (r.get("server_stats") or {}).get("cpu_s", 0.0)
if r["scenario"] == "idle":
    print(r["rss_per_connection_kib"], 0)
elif r["scenario"] == "connect":
    print(r["registrations_per_sec"], 1e6 * cpu / max(r["clients"], 1))
else:
    print(r["deliveries_per_sec"], 1e6 * cpu / max(r["deliveries"], 1))'
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

printf "%-10s %14s %14s %8s %12s %12s\n" scenario this base ratio "cpu µs this" "cpu µs base"
for s in "${SCENARIOS[@]}"; do
  id=${s%%|*}; args=${s#*|}
  a=(); b=(); ca=(); cb=()
  for _ in $(seq "$ROUNDS"); do
    read -r t c < <(run "$THIS" $args); a+=("$t"); ca+=("$c")
    read -r t c < <(run "$OTHER" $args); b+=("$t"); cb+=("$c")
  done
  python3 - "$id" "${a[*]}" "${b[*]}" "${ca[*]}" "${cb[*]}" <<'PY'
import statistics, sys
id, a, b, ca, cb = sys.argv[1:]
med = lambda s: statistics.median(float(x) for x in s.split() if x != "None")
ta, tb = med(a), med(b)
print(f"{id:<10} {ta:>14,.2f} {tb:>14,.2f} {ta/tb:>8.3f} {med(ca):>12.3f} {med(cb):>12.3f}")
PY
done
