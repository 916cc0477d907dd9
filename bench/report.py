#!/usr/bin/env python3
"""bench/report.py: turn natter-bench --json results into BENCHMARKS.md and an SVG chart.

Owns: reading RESULTS/{server}-{scenario}.{run}.json (and the older
{server}-{scenario}.json, as one run), meta.txt and commands.txt that
bench/compare.sh writes, the side-by-side tables (ratios to natter) and the
fanout chart. Every number in a table is the median of the runs with their
spread (min–max); a ratio is of medians, its spread the worst and best case
of the two ranges. Must never: run a benchmark, or need anything beyond
Python's standard library.
"""
import argparse
import glob
import json
import os
import re
import statistics

SERVERS = ["natter", "natter_mem", "natter_tls", "natter_ws", "ngircd", "inspircd"]
COLORS = {"natter": "#d62728", "natter_mem": "#ff9896", "natter_tls": "#9467bd", "natter_ws": "#8c564b",
          "ngircd": "#1f77b4", "inspircd": "#2ca02c"}
# Variants of natter measured only against another variant, not against the
# peers: (variant, its baseline). natter_tls is natter_mem over TLS and
# natter_ws natter_mem over WebSocket; both run the fanout scenarios only.
VARIANT_OF = {"natter_tls": "natter_mem", "natter_ws": "natter_mem"}


def load(results):
    """{(server, scenario): [run, ...]} in run order; a run is its JSON dict."""
    found = {}
    for path in glob.glob(os.path.join(results, "*.json")):
        name = os.path.basename(path)[:-5]
        m = re.fullmatch(r"(.*)\.(\d+)", name)
        base, number = (m.group(1), int(m.group(2))) if m else (name, 1)
        server, _, scenario = base.partition("-")
        try:
            with open(path) as f:
                text = f.read().strip()
            data = json.loads(text) if text else {"error": "no output"}
        except ValueError as e:
            data = {"error": f"unreadable JSON: {e}"}
        errfile = path[:-5] + ".err"
        if "error" not in data and os.path.exists(errfile):
            with open(errfile) as f:
                tail = f.read().strip().splitlines()
            if tail:
                data["note"] = tail[-1]
        found.setdefault((server, scenario), []).append((number, data))
    return {k: [d for _, d in sorted(v, key=lambda x: x[0])] for k, v in found.items()}


def ok_runs(runs):
    return [r for r in runs or [] if "error" not in r]


def first_ok(runs):
    ok = ok_runs(runs)
    return ok[0] if ok else None


def values(runs, metric):
    return [v for v in (metric(r) for r in ok_runs(runs)) if v is not None]


def median(vals):
    return statistics.median(vals) if vals else None


def fmt_stat(vals, digits=0, unit=""):
    """The median, and with more than one run the spread: 1,234 (1,200–1,300)."""
    if not vals:
        return "–"
    text = fmt_num(median(vals), digits) + unit
    if len(vals) > 1:
        text += f" ({fmt_num(min(vals), digits)}–{fmt_num(max(vals), digits)})"
    return text


def cpu_per_delivery(run):
    """Server CPU µs per delivered message, measured phase + after-work until idle."""
    return get(run, "server_stats", "cpu_us_per_delivery")


CPU_TITLE = ("Server CPU per delivered message (µs), until idle: the measured phase plus "
             "the work the server did after it until it went idle")


def reordered(run):
    """Reordered deliveries (older results counted reordered and duplicated together)."""
    return run.get("reordered", run.get("reordered_or_duplicated", 0))


def read_meta(results):
    meta = {}
    path = os.path.join(results, "meta.txt")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                k, _, v = line.partition(":")
                meta.setdefault(k.strip(), v.strip())
    return meta


def fmt_num(v, digits=0):
    if v is None:
        return "–"
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def get(run, *path):
    v = run
    for p in path:
        if not isinstance(v, dict) or p not in v:
            return None
        v = v[p]
    return v


def clean_mark(runs):
    """✗ if any run failed, ⚠ if any had loss, reordering, duplicates or a timeout."""
    if not runs:
        return ""
    if any("error" in r for r in runs):
        return " ✗"
    if any(r.get("lost", 0) or reordered(r) or r.get("duplicated", 0) or r.get("timed_out")
           for r in runs):
        return " ⚠"
    return ""


def table(runs, servers, title, rows, metric, digits, better, unit=""):
    """rows: [(label, scenario id)]; metric(run) -> number or None.

    A column per server that ran any of the rows (median of its runs, spread
    in brackets), natter ÷ each peer, and variant ÷ baseline for each variant
    in VARIANT_OF (natter_tls ÷ natter_mem): ratios of medians, with the
    lowest and highest ratio the two spreads allow.
    """
    sids = {sid for _, sid in rows}
    servers = [s for s in servers
               if s not in VARIANT_OF or any((s, sid) in runs for sid in sids)]
    peers = [s for s in servers if s != "natter" and s not in VARIANT_OF]
    variants = [(v, b) for v, b in VARIANT_OF.items() if v in servers and b in servers]
    out = [f"### {title} ({better} is better)", ""]
    head = (["", *servers] + [f"natter ÷ {p}" for p in peers if "natter" in servers]
            + [f"{v} ÷ {b}" for v, b in variants])
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
    for label, sid in rows:
        cells = [label]
        vals = {}
        for s in servers:
            rs = runs.get((s, sid))
            if not rs:
                cells.append("–")
                continue
            if not ok_runs(rs):
                cells.append("error ✗")
                continue
            v = values(rs, metric)
            vals[s] = v
            cells.append(fmt_stat(v, digits, unit) + clean_mark(rs))
        ratios = [("natter", p) for p in peers if "natter" in servers] + variants
        for top, bottom in ratios:
            a, b = vals.get(top), vals.get(bottom)
            if not a or not b or not median(b) or min(b) <= 0:
                cells.append("–")
                continue
            text = f"{median(a) / median(b):.2f}×"
            if len(a) > 1 or len(b) > 1:
                text += f" ({min(a) / max(b):.2f}–{max(a) / min(b):.2f})"
            cells.append(text)
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    return out


def svg_chart(runs, servers, sizes, path):
    w, h, ml, mr, mt, mb = 640, 400, 80, 130, 40, 50
    pts = {}
    ymax = 0.0
    for s in servers:
        for i, n in enumerate(sizes):
            v = median(values(runs.get((s, f"fanout-{n}")), lambda r: r.get("deliveries_per_sec")))
            if v is not None:
                pts.setdefault(s, []).append((i, v))
                ymax = max(ymax, v)
    if ymax <= 0:
        ymax = 1.0
    # Round the axis up to a 1/2/5 step.
    mag = 10 ** (len(str(int(ymax))) - 1)
    top = next(m * mag for m in (1, 2, 5, 10) if m * mag >= ymax)
    pw, ph = w - ml - mr, h - mt - mb

    def x(i):
        return ml + (pw * i / max(1, len(sizes) - 1))

    def y(v):
        return mt + ph - ph * v / top

    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
         f'font-family="sans-serif" font-size="12">',
         f'<rect width="{w}" height="{h}" fill="white"/>',
         f'<text x="{w / 2}" y="22" text-anchor="middle" font-size="15">'
         'Fanout: deliveries per second vs room size</text>']
    for k in range(6):
        v = top * k / 5
        o.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
        o.append(f'<text x="{ml - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:,.0f}</text>')
    for i, n in enumerate(sizes):
        o.append(f'<text x="{x(i):.1f}" y="{mt + ph + 18}" text-anchor="middle">{n}</text>')
    o.append(f'<text x="{ml + pw / 2}" y="{h - 10}" text-anchor="middle">members in the room</text>')
    o.append(f'<line x1="{ml}" x2="{ml}" y1="{mt}" y2="{mt + ph}" stroke="black"/>')
    o.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{mt + ph}" y2="{mt + ph}" stroke="black"/>')
    for j, s in enumerate(servers):
        c = COLORS.get(s, "#555")
        line = pts.get(s, [])
        if line:
            d = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in line)
            o.append(f'<polyline points="{d}" fill="none" stroke="{c}" stroke-width="2.5"/>')
            for i, v in line:
                o.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{c}"/>')
        ly = mt + 10 + 20 * j
        o.append(f'<rect x="{ml + pw + 15}" y="{ly - 8}" width="14" height="4" fill="{c}"/>')
        label = s + ("" if line else " (no data)")
        o.append(f'<text x="{ml + pw + 35}" y="{ly - 2}">{label}</text>')
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--svg", required=True)
    a = ap.parse_args()
    runs = load(a.results)
    meta = read_meta(a.results)
    present = {s for s, _ in runs}
    servers = [s for s in SERVERS if s in present] + sorted(present - set(SERVERS))
    sizes = sorted({int(m.group(1)) for _, sid in runs
                    for m in [re.fullmatch(r"fanout-(\d+)", sid)] if m})
    fan_rows = [(f"{n} members", f"fanout-{n}") for n in sizes]
    svg_chart(runs, servers, sizes, a.svg)
    # The chart as the report links it: relative to where the report is.
    chart = os.path.relpath(os.path.abspath(a.svg),
                            os.path.dirname(os.path.abspath(a.out))).replace(os.sep, "/")

    o = ["# natter benchmarks", "",
         "natter-server measured side by side with ngircd and InspIRCd on this machine, "
         "over loopback, by `natter-bench` (`src/bench/`). Regenerate everything with:", "",
         "```sh", f"bench/compare.sh{' --quick' if meta.get('mode') == 'quick' else ''}", "```", ""]
    if meta.get("mode") == "quick":
        o += ["> **Quick mode** (small sizes, pipeline validation only): these numbers are not "
              "the comparison. Run `bench/compare.sh` on a quiet machine for the full sizes.", ""]
    if meta.get("note"):
        o += [f"> **Note:** {meta['note']}", ""]
    if not any(name.startswith("natter") for name in servers):
        o += ["> **natter-server was not measured in this run** (not built yet, or left out with "
              "`--servers`): the tables compare the peers only, and validate the pipeline.", ""]
    for k in meta:
        if k.startswith("skipped"):
            o += [f"> **{k}**: {meta[k]}", ""]
    if "natter_mem" in servers:
        o += ["**natter** is natter-server as shipped: every message is in its history "
              "journal (one `write()` per group of batches) before anyone is sent it, the "
              "README's kill -9 durability promise; SQLite is built behind the journal (room "
              "messages packed into blocks, one row per 32 KiB of a room's messages), in the "
              "pause after a burst, and that CPU is counted: every CPU figure "
              "below runs until the server is idle again. **natter_mem** is the same binary "
              "with `--no-persist` (history in memory only), so *natter ÷ natter_mem* is the "
              "cost of durability. The peers keep no history at all.", ""]
    if "natter_tls" in servers:
        o += ["**natter_tls** is natter_mem (`--no-persist`) with its clients on the TLS "
              "port: the server has a self-signed certificate (made with "
              "`natter-server --tls-self-signed`) and natter-bench connects with `--tls` "
              "(TLS 1.3, rustls on both sides; natter-bench does not verify the "
              "certificate). It runs the fanout scenarios only. natter_mem over plaintext "
              "is its baseline, so *natter_tls ÷ natter_mem* is the cost of TLS: the "
              "server encrypts every line for every recipient and natter-bench, on the "
              "same cores, decrypts them all.", ""]
    if "natter_ws" in servers:
        o += ["**natter_ws** is natter_mem (`--no-persist`) with its clients on the web "
              "port (`--web-port`), speaking IRC over WebSocket as browsers do "
              "(`natter-bench --ws`: subprotocol `text.ircv3.net`, one line per message, "
              "every client frame masked). It runs the fanout scenarios only; "
              "*natter_ws ÷ natter_mem* is the cost of WebSocket framing on both sides "
              "of the loopback.", ""]
    nruns = max((len(v) for v in runs.values()), default=0)
    o += [f"**Method.** Every server and scenario ran {meta.get('runs', nruns)} time(s), each "
          "against a freshly started server, round after round across the servers. Each "
          "number is the **median of the runs, with their spread (min–max) in brackets**. "
          "natter ÷ peer is the ratio of the medians, bracketed by the lowest and highest "
          "ratio the two spreads allow. ✗ marks a failed run (see Errors), ⚠ a run with "
          "loss, reordering, duplicates or a timeout.", "",
          "**Deliveries per second = messages in per second × (room size − 1)**: every "
          "message a sender puts into a room is delivered to each of the other members.", "",
          "**Latency.** In the fanout and rooms tables (as fast as possible) latency runs "
          "from when the sender wrote each message to its arrival, and each sender keeps "
          "at most `--window` messages in flight, where a message stays in flight until "
          "the *slowest* receiver in the room has it (a fast receiver cannot hide a slow "
          "one). At a fixed offered load (`--rate`) latency runs from each message's "
          "*scheduled* send time, so a stall in natter-bench or the server counts as "
          "latency instead of dropping out (coordinated omission corrected, as wrk2 "
          "does). A message that arrives after a later one from the same sender counts "
          "once, as reordered, never also as lost.", "",
          "**Server CPU until idle.** A server may put work off until the measured phase "
          "is over (building indexes, flushing, compacting). After each run natter-bench "
          "keeps the clients connected and reads the server's CPU every 100 ms until it "
          "uses less than 2 ms in 300 ms (at most 30 s); the CPU tables charge the run "
          "the measured phase *plus* that after-work, per delivered message.", ""]
    o += ["## Machine", "", "| | |", "|---|---|"]
    for k in ["date", "mode", "runs", "nproc", "cpu", "memory", "kernel", "nofile", "natter", "ngircd", "inspircd"]:
        if k in meta:
            o.append(f"| {k} | {meta[k]} |")
    o += ["", "natter-bench runs on the same cores as the server under test; its own CPU "
          "seconds are reported so its share is visible.", ""]

    o += ["## Fanout: one room, 10 senders, everyone else receives", "",
          f"![deliveries per second against room size]({chart})", ""]
    o += table(runs, servers, "Deliveries per second", fan_rows,
               lambda r: r.get("deliveries_per_sec"), 0, "higher")
    o += table(runs, servers, "p99 delivery latency (ms) from the write, as fast as possible",
               fan_rows,
               lambda r: get(r, "latency", "p99_ms"), 2, "lower")
    o += table(runs, servers, CPU_TITLE, fan_rows, cpu_per_delivery, 3, "lower")
    o += table(runs, servers, "Server peak RSS (MiB)", fan_rows,
               lambda r: (get(r, "server_stats", "peak_rss_kib") or 0) / 1024 or None, 1, "lower")

    o += ["## Rooms: many small rooms, every member talks", ""]
    o += table(runs, servers, "Rooms", [("deliveries/s", "rooms")],
               lambda r: r.get("deliveries_per_sec"), 0, "higher")
    o += table(runs, servers, "Rooms p99 latency (ms)", [("p99 ms", "rooms")],
               lambda r: get(r, "latency", "p99_ms"), 2, "lower")
    o += table(runs, servers, CPU_TITLE, [("µs/delivery", "rooms")], cpu_per_delivery, 3, "lower")

    o += ["## Latency at a fixed offered load all servers sustain", ""]
    lat = first_ok(runs.get(("natter", "latency"))) or next(
        (first_ok(rs) for (s, i), rs in runs.items() if i == "latency" and first_ok(rs)), None)
    if lat:
        o += [f"{lat.get('rate', 0):,.0f} messages/s into a {lat.get('members_per_room')}-member room "
              f"({lat.get('senders')} senders), {lat.get('expected_deliveries', 0):,} deliveries. "
              "Latency is from each message's scheduled send time (coordinated omission "
              "corrected); the uncorrected p99, from when the sender actually wrote it, "
              "follows for comparison only.", ""]
    for q, key in [("p50", "p50_ms"), ("p99", "p99_ms"), ("p99.9", "p999_ms"), ("max", "max_ms")]:
        o += table(runs, servers, f"{q} latency (ms) from the scheduled send time", [(q, "latency")],
                   lambda r, key=key: get(r, "latency", key), 2, "lower")
    o += table(runs, servers, "Uncorrected p99 latency (ms) from the write", [("p99", "latency")],
               lambda r: get(r, "latency_uncorrected", "p99_ms"), 2, "lower")
    o += table(runs, servers, CPU_TITLE, [("µs/delivery", "latency")], cpu_per_delivery, 3, "lower")

    o += ["## Community: thousands of clients, rooms of every size, churn", ""]
    com = first_ok(runs.get(("natter", "community"))) or next(
        (first_ok(rs) for (s, i), rs in runs.items() if i == "community" and first_ok(rs)), None)
    if com:
        c = com.get("community", {})
        o += [f"{com.get('clients', 0):,} clients in {com.get('rooms', 0):,} rooms whose sizes "
              f"follow Zipf's law (median {c.get('room_size_median')}, 90th percentile "
              f"{c.get('room_size_p90')}, largest {c.get('room_size_max')}; "
              f"{c.get('memberships', 0):,} memberships; seed {c.get('seed')}). For "
              f"{c.get('duration_s', 0):,.0f} s, {com.get('rate', 0):,.0f} messages/s over all "
              "talkers on a fixed schedule (big rooms busier: "
              f"{c.get('mean_receivers', 0):.1f} receivers per message on average), while "
              f"{c.get('churn_rate', 0):,.0f} churn events/s make a client PART a room and "
              "re-JOIN it, or QUIT and reconnect. Plain IRC only. A receiver is owed only the "
              "messages sent while it was in the room; history a server replays on JOIN (and "
              "messages sent before the receiver's JOIN was confirmed) counts neither as a "
              "delivery nor as a duplicate. Latency is from each message's scheduled send "
              "time.", ""]
    o += table(runs, servers, "Community deliveries per second", [("deliveries/s", "community")],
               lambda r: r.get("deliveries_per_sec"), 0, "higher")
    o += table(runs, servers, "Community messages in per second", [("messages in/s", "community")],
               lambda r: r.get("messages_per_sec"), 0, "higher")
    o += table(runs, servers, "Community p99 latency (ms) from the scheduled send time",
               [("p99 ms", "community")], lambda r: get(r, "latency", "p99_ms"), 2, "lower")
    announced = lambda r: get(r, "community", "announcement_latency", "p99_ms")
    if any(announced(r) is not None for (_, sid), rs in runs.items() if sid == "community"
           for r in rs):
        # Measured since 860c21a: older results have no such figure.
        o += table(runs, servers,
                   "Community announcement p99 (ms): from a churning client's JOIN, PART or "
                   "QUIT to another member reading the server's line about it",
                   [("p99 ms", "community")], announced, 2, "lower")
    o += table(runs, servers, "Community server peak RSS (MiB)", [("peak MiB", "community")],
               lambda r: (get(r, "server_stats", "peak_rss_kib") or 0) / 1024 or None, 1, "lower")
    o += table(runs, servers, CPU_TITLE, [("µs/delivery", "community")], cpu_per_delivery, 3,
               "lower")
    o += table(runs, servers, "Community churn events completed", [("events", "community")],
               lambda r: get(r, "community", "churn_done"), 0, "higher")

    o += ["## Idle connections: memory per connection", ""]
    o += table(runs, servers, "Server RSS growth per idle connection (KiB)", [("KiB/conn", "idle")],
               lambda r: r.get("rss_per_connection_kib"), 2, "lower")
    o += table(runs, servers, "Connections held", [("clients", "idle")],
               lambda r: r.get("clients"), 0, "higher")

    o += ["## Connect storm: registrations per second", ""]
    o += table(runs, servers, "Registrations per second", [("reg/s", "connect")],
               lambda r: r.get("registrations_per_sec"), 0, "higher")
    o += table(runs, servers, "connect→001 p99 (ms)", [("p99 ms", "connect")],
               lambda r: get(r, "registration_latency", "p99_ms"), 2, "lower")

    o += ["## Correctness in every run", "",
          "Counts are summed over the runs; CPU seconds are the median (min–max). "
          "*Server CPU s after the run* is the work the server did after the measured "
          "phase until it went idle (already included in the CPU per delivery figures); "
          "*still busy* counts runs where it had not gone idle within 30 s.", "",
          "| server | scenario | runs | deliveries (median) | lost | reordered | duplicated | "
          "timed out | server CPU s after the run | still busy | "
          "natter-bench CPU s, measured | natter-bench CPU s, whole run |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    errors = []
    order = [f"fanout-{n}" for n in sizes] + ["rooms", "latency", "community", "idle", "connect"]

    def run_key(k):
        return (servers.index(k[0]) if k[0] in servers else 99,
                order.index(k[1]) if k[1] in order else 99, k[1])

    for (s, sid) in sorted(runs, key=run_key):
        rs = runs[(s, sid)]
        for i, r in enumerate(rs, 1):
            if "error" in r:
                errors.append(f"- **{s} {sid} run {i}**: {r['error']}")
            elif r.get("note"):
                errors.append(f"- **{s} {sid} run {i}**: {r['note']}")
        ok = ok_runs(rs)
        if not ok:
            o.append(f"| {s} | {sid} | 0 of {len(rs)} | error | | | | | | | | |")
            continue
        delivered = median([r.get("deliveries", 0) for r in ok])
        o.append(f"| {s} | {sid} | {len(ok)} of {len(rs)} | "
                 f"{delivered:,.0f} of {ok[0].get('expected_deliveries', 0):,} | "
                 f"{sum(r.get('lost', 0) for r in ok)} | {sum(reordered(r) for r in ok)} | "
                 f"{sum(r.get('duplicated', 0) for r in ok)} | "
                 f"{sum(1 for r in ok if r.get('timed_out'))} | "
                 f"{fmt_stat(values(ok, lambda r: get(r, 'server_stats', 'cpu_after_s')), 2)} | "
                 f"{sum(1 for r in ok if get(r, 'server_stats', 'went_idle') is False)} | "
                 f"{fmt_stat([r.get('bench_cpu_measured_s', 0) for r in ok], 2)} | "
                 f"{fmt_stat([r.get('bench_cpu_s', 0) for r in ok], 2)} |")
    o.append("")
    if errors:
        o += ["### Errors", ""] + errors + [""]

    o += ["## Peer limits", "",
          "Configs: `bench/ngircd.conf.template`, `bench/inspircd.conf.template` (127.0.0.1 only).",
          "",
          "- **ngircd 26**: flood control off (`MaxPenaltyTime = 0`), no per-IP or total connection "
          "limits, no DNS/ident/PAM. Not liftable by config: listen backlog of 10 (natter-bench "
          "ramps with 10 handshakes in flight for it), a 32 KiB write buffer per client (a slower "
          "reader is disconnected), no TCP_NODELAY (single lines may wait ~40 ms for a delayed ACK).",
          "- **InspIRCd 3**: one `<connect>` class with `fakelag=no`, huge `threshold`/`commandrate`, "
          "no local/global limits, 16–64 MiB send/receive queues, `<performance somaxconn=4096>`, "
          "run as user irc. Not liftable: registration completes on a once-a-second tick (so "
          "connect→001 is ~1 s and registrations/s is bounded by handshakes in flight per second: "
          "natter-bench keeps 2,000 in flight for it), no TCP_NODELAY.",
          "- **All**: the machine's open-file hard limit (see nofile above) caps connections per "
          "process, for natter-bench too.", ""]

    # Hand-written analysis that the numbers above do not say by themselves
    # (bench/durability.md: what durable history costs and where;
    # bench/scaling.md: what a bigger machine should carry, and why).
    here = os.path.dirname(os.path.abspath(__file__))
    dpath = os.path.join(here, "durability.md")
    if "natter" in servers and os.path.exists(dpath):
        with open(dpath) as f:
            o += [line.rstrip("\n") for line in f]
        o += [""]
    spath = os.path.join(here, "scaling.md")
    if "natter" in servers and os.path.exists(spath):
        with open(spath) as f:
            o += [line.rstrip("\n") for line in f]
        o += [""]

    # natter's transports side by side (bench/transports.md, made by
    # `bench/compare.sh --servers "natter_mem natter_tls natter_ws"
    # --scenarios 'fanout-*' ...`), linked from the full report.
    tpath = os.path.join(here, "transports.md")
    if "natter" in servers and os.path.exists(tpath) \
            and os.path.abspath(a.out) != os.path.abspath(tpath):
        o += ["## Transports: TCP, TLS and WebSocket", "",
              "natter_mem over plain TCP, TLS (natter_tls) and WebSocket (natter_ws) in the "
              "fanout scenarios, measured in their own run: "
              "[bench/transports.md](bench/transports.md).", ""]

    # The cluster beside one node (bench/cluster.md, written from a run of
    # bench/cluster.sh: its own run, with NATS).
    cpath_cluster = os.path.join(here, "cluster.md")
    if "natter" in servers and os.path.exists(cpath_cluster):
        with open(cpath_cluster) as f:
            o += [line.rstrip("\n") for line in f]
        o += [""]

    o += ["## Commands", "", f"Each scenario ran {meta.get('runs', nruns)} time(s), each "
          "against a freshly started server (`$PID` is its process id):", "", "```"]
    cpath = os.path.join(a.results, "commands.txt")
    if os.path.exists(cpath):
        with open(cpath) as f:
            o += [line.rstrip("\n") for line in f]
    o += ["```", ""]
    with open(a.out, "w") as f:
        f.write("\n".join(o))


if __name__ == "__main__":
    main()
