"""Reads natter-bench --json results named NAME.LABEL.ROUND.json (as
bench/variants.sh leaves them): for bench/variants.sh and
bench/durability.sh."""
import collections
import glob
import json


def read_runs(directory):
    """{(name, label): [run, ...]}, where a run is None (no result) or
    (throughput, CPU µs per delivery, p99 ms, lost); for connect,
    registrations per second and CPU µs per registration."""
    runs = collections.defaultdict(list)
    for path in glob.glob(directory + "/*.json"):
        name, label, _, _ = path.split("/")[-1].split(".")
        try:
            r = json.load(open(path))
        except ValueError:
            runs[name, label].append(None)
            continue
        st = r.get("server_stats") or {}
        if r["scenario"] == "connect":
            thr, per, cpu = r["registrations_per_sec"], r["clients"], st.get("cpu_total_s", 0.0)
        else:
            thr, per, cpu = r["deliveries_per_sec"], r["deliveries"], st.get("cpu_until_idle_s", 0.0)
        p99 = (r.get("latency") or {}).get("p99_ms", 0.0)
        runs[name, label].append((thr, 1e6 * cpu / max(per, 1), p99, r.get("lost", 0)))
    return runs
