#!/usr/bin/env python3
"""The report of scripts/bench: medians of the raw lines, ratios, a table, a plot.

Usage: bench_report.py RAW OUTDIR [--plot] [--meta KEY=VALUE ...]

RAW holds lines "R <case> <column> <value>" (other lines are ignored):
columns native, shim_native, isolated, port, floor, shim; values in ns per
operation unless the case says otherwise. Writes OUTDIR/results.md,
OUTDIR/results.json and, with --plot, OUTDIR/bench.png (gnuplot). Prints
results.md.
"""
import collections
import json
import math
import os
import statistics
import subprocess
import sys

COLUMNS = ["native", "shim_native", "isolated", "port"]
HEAD = {"native": "native", "shim_native": "shim, native NIF", "isolated": "isolated", "port": "port"}

# (case, what it does), in table order, by group.
CALLS = [
    ("trivial", [
        ("noop", "noop/1: returns its argument"),
        ("add", "add/2: 2 enif_get_long + enif_make_long"),
    ]),
    ("enif-heavy", [
        ("build_list_1000", "build a 1000-element list of {I, I*I}"),
        ("sum_list_1000", "sum a 1000-element list"),
        ("jiffy_1mb", "jiffy decode + encode, 1 MB JSON"),
    ]),
    ("big data", [
        ("sha256_1mb", "crypto:hash(sha256, 1 MB)"),
        ("sha256_100mb", "crypto:hash(sha256, 100 MB)"),
        ("copy_100mb", "reference, no NIF: binary:copy/1 of 100 MB (what a copy would cost)"),
        ("bin_in_100mb", "100 MB binary in: {size, first byte}"),
        ("bin_in_out_100mb", "100 MB binary in and out (a sub-binary of all of it; port: echo)"),
        ("bin_sum_100mb", "sum the bytes of a 100 MB binary (reads all of it, dirty)"),
        ("bin_new_100mb", "a new 100 MB binary out (enif_alloc_binary + memset, dirty)"),
    ]),
    ("concurrency", [
        ("all_schedulers_noop", "noop from every scheduler at once: time per call (throughput)"),
    ]),
]
STARTS = [
    ("load_first_call", "library loaded again (module reload) + first call"),
    ("restart_on_demand", "nifshim:restart/1, then the next call (a fresh worker)"),
    ("crash_restart", "SIGSEGV in a call: from the exception to the next call served"),
]


def load(path):
    v = collections.defaultdict(list)
    idle = collections.defaultdict(list)
    for line in open(path):
        f = line.split()
        if len(f) == 4 and f[0] == "R":
            v[(f[1], f[2])].append(float(f[3]))
        elif len(f) == 3 and f[0] == "I":
            idle[f[1]].append(int(f[2]))
    return v, idle


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, int(math.ceil(p / 100 * len(s))) - 1)]


def fmt_ns(ns):
    if ns is None:
        return "n/a"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            x = ns / scale
            return f"{x:.3g} {unit}" if x < 100 else f"{x:.0f} {unit}"
    return f"{ns:.3g} ns" if ns < 100 else f"{ns:.0f} ns"


def fmt_ratio(r):
    if r is None:
        return ""
    return f"{r:.3f}" if r < 10 else f"{r:.0f}" if r >= 100 else f"{r:.1f}"


def main():
    raw, out = sys.argv[1], sys.argv[2]
    plot = "--plot" in sys.argv
    meta = dict(a.split("=", 1) for a in sys.argv[3:] if "=" in a)
    v, idle = load(raw)
    med = {k: statistics.median(x) for k, x in v.items()}
    get = lambda case, col: med.get((case, col))

    def ratio(a, b):
        return a / b if a is not None and b else None

    md = []
    res = {"meta": meta, "cases": {}, "ratios": {}, "idle_ticks": {k: x for k, x in idle.items()}}
    for (case, col), xs in sorted(v.items()):
        res["cases"].setdefault(case, {})[col] = {
            "median": statistics.median(xs), "p90": pct(xs, 90), "min": min(xs), "max": max(xs),
            "n": len(xs), "samples": xs}

    fl_ch, fl_line = get("floor_channel", "floor"), get("floor_line", "floor")
    if any(get(c, col) is not None for _, cs in CALLS for c, _ in cs for col in COLUMNS):
        md.append("Medians over all repetitions of all rounds (each VM and the floor measured alternately, "
                  "round after round); ns, µs, ms per operation.")
        md.append("")
        if fl_ch is not None:
            md.append(f"Floor (two plain processes, shared memory): the shim's channel round trip "
                      f"**{fmt_ns(fl_ch)}**; one cache line passed back and forth **{fmt_ns(fl_line)}**.")
            md.append("")
        md.append("| case | " + " | ".join(HEAD[c] for c in COLUMNS)
                  + " | isolated/native | port/isolated | isolated/floor |")
        md.append("|---|" + "---|" * (len(COLUMNS) + 3))
        for group, cases in CALLS:
            md.append(f"| *{group}* |" + " |" * (len(COLUMNS) + 3))
            for case, what in cases:
                vals = [get(case, c) for c in COLUMNS]
                if all(x is None for x in vals):
                    continue
                n, i, p = get(case, "native"), get(case, "isolated"), get(case, "port")
                r_in, r_pi = ratio(i, n), ratio(p, i)
                r_fl = ""
                if case == "noop" and i is not None and fl_ch:
                    r_fl = f"{fmt_ratio(i / fl_ch)} (channel), {fmt_ratio(i / fl_line)} (line)"
                    res["ratios"]["noop_isolated_over_channel_floor"] = i / fl_ch
                    res["ratios"]["noop_isolated_over_line_floor"] = i / fl_line
                paired = get("noop_over_floor", "isolated")
                if case == "noop" and paired is not None:
                    r_fl = (f"**{fmt_ratio(paired)}** (each repetition over the channel floor measured "
                            f"just before it; median of {len(v[('noop_over_floor', 'isolated')])})"
                            + (f"; medians of the round: {r_fl}" if r_fl else ""))
                    res["ratios"]["noop_isolated_over_adjacent_floor"] = paired
                res["ratios"][f"{case}_isolated_over_native"] = r_in
                res["ratios"][f"{case}_port_over_isolated"] = r_pi
                md.append(f"| {what} | " + " | ".join(fmt_ns(x) for x in vals)
                          + f" | {fmt_ratio(r_in)} | {fmt_ratio(r_pi)} | {r_fl} |")
        md.append("")
        scal = []
        for col in ("native", "isolated"):
            one, all_ = get("noop", col), get("all_schedulers_noop", col)
            if one and all_:
                res["ratios"][f"all_schedulers_over_one_{col}"] = all_ / one
                scal.append(f"{col} {fmt_ratio(all_ / one)}")
        if scal:
            md.append("All schedulers at once, time per call against one caller's: " + ", ".join(scal)
                      + " (below 1: calls overlap).")
            md.append("")

    rows = [(c, w) for c, w in STARTS if any((c, col) in v for col in COLUMNS)]
    if rows:
        md.append("| worker start | native median | isolated median | isolated p90 | samples |")
        md.append("|---|---|---|---|---|")
        for case, what in rows:
            n, i = v.get((case, "native")), v.get((case, "isolated"))
            md.append(f"| {what} | {fmt_ns(statistics.median(n)) if n else 'n/a'} | "
                      f"{fmt_ns(statistics.median(i)) if i else 'n/a'} | {fmt_ns(pct(i, 90)) if i else ''} | "
                      f"{len(i) if i else len(n)} |")
        md.append("")

    ticks = v.get(("idle_worker_ticks_2s", "isolated"))
    if ticks:
        workers = v.get(("idle_workers", "isolated"), [0])
        per = ", ".join(f"{k} {sum(x)}" for k, x in sorted(idle.items()))
        md.append(f"Idle workers: {int(max(workers))} workers (one per isolated library) used "
                  f"**{int(sum(ticks))} CPU ticks** (1/100 s) in total over {len(ticks)} idle spells "
                  f"of 2 s ({per}).")
        md.append("")

    vm_n, vm_s = v.get(("vm_workload", "native")), v.get(("vm_workload", "shim"))
    if vm_n and vm_s:
        mn = statistics.median(vm_n)
        res["ratios"]["vm_workload_shim_over_native"] = statistics.median(vm_s) / mn
        md.append("| VM-wide: allocation-heavy workload (nifshim_workload:bench/1) | median | min | max | "
                  "repetitions | minor faults per VM | window: freed / reused / punched per VM | shim/native |")
        md.append("|---|---|---|---|---|---|---|---|")
        rows = (("without the shim", "native"), ("with the shim", "shim"),
                ("with the shim, freed pages punched at once (NIFSHIM_KEEP=0)", "shim_nokeep"))
        for label, col in rows:
            x = v.get(("vm_workload", col))
            if not x:
                continue
            m = statistics.median(x)
            mem = ""
            if v.get(("vm_freed", col)):
                mem = " / ".join(f"{get('vm_' + k, col) / 2**20:.0f} MiB" for k in ("freed", "reused", "punched"))
            ratio = "" if col == "native" else f"**{m / mn:.3f}**"
            if col == "shim_nokeep":
                res["ratios"]["vm_workload_nokeep_over_native"] = m / mn
            md.append(f"| {label} | {fmt_ns(m)} | {fmt_ns(min(x))} | {fmt_ns(max(x))} | {len(x)} | "
                      f"{get('vm_minflt', col):.0f} | {mem} | {ratio} |")
        md.append("")

    if meta:
        md.append("Run: " + ", ".join(f"{k} {x}" for k, x in meta.items()) + ".")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    if plot:
        draw(out, get, fl_ch, fl_line)
    print("\n".join(md))


def draw(out, get, fl_ch, fl_line):
    """A log-scale bar chart of ns per operation, cases side by side."""
    dat = os.path.join(out, "bench.dat")
    ncases = 0
    with open(dat, "w") as f:
        f.write("# case " + " ".join(COLUMNS) + "\n")
        for _, cases in CALLS:
            for case, _ in cases:
                vals = [get(case, c) for c in COLUMNS]
                if all(x is None for x in vals):
                    continue
                f.write(f'"{case}" ' + " ".join("?" if x is None else f"{x:.3f}" for x in vals) + "\n")
                ncases += 1
    floors = ""
    for val, name, dt in ((fl_ch, "channel floor", 2), (fl_line, "cache-line floor", 3)):
        if val:
            floors += (f'set arrow from graph 0, first {val} to graph 1, first {val} nohead dt {dt} lc rgb "#444444" back\n'
                       f'set label "{name}\\n{fmt_ns(val)}" at graph 1.01, first {val} left font ",9"\n')
    script = f"""
set terminal pngcairo noenhanced size 1400,700 font ",10"
set output "{os.path.join(out, 'bench.png')}"
set title "nifshim benchmarks: time per operation, medians (log scale)"
set datafile missing "?"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set ytics ("1 ns" 1, "10 ns" 10, "100 ns" 100, "1 µs" 1e3, "10 µs" 1e4, "100 µs" 1e5, \\
           "1 ms" 1e6, "10 ms" 1e7, "100 ms" 1e8, "1 s" 1e9, "10 s" 1e10, "100 s" 1e11)
set ylabel "time per operation"
set yrange [1:*]
set xrange [-0.6:{ncases - 0.4}]
set grid ytics
set xtics rotate by -30 left
set key top left
set rmargin 16
{floors}
plot "{dat}" using 2:xtic(1) title "native" lc rgb "#4477aa", \\
     "" using 3 title "shim, native NIF" lc rgb "#66ccee", \\
     "" using 4 title "isolated" lc rgb "#ee6677", \\
     "" using 5 title "port" lc rgb "#ccbb44"
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


if __name__ == "__main__":
    main()
