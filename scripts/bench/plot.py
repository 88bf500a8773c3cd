#!/usr/bin/env python3
"""Plots of the benchmark CSVs (issue 8); every figure is made from the CSV
files, never by hand.  Each plot uses the newest run_id in its CSV.

usage: plot.py codec CODEC_CSV CALLGRIND_CSV OUT.png
       plot.py genloop GENLOOP_CSV OUT.png
       plot.py bars CSV OUT.png TITLE            median msgs/s per tool (and settings) of the last run
       plot.py sweep CSV OUT.png TITLE XCOL      msgs/s against a parameter column, one line per series
"""
import csv
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def last_run(rows):
    run = rows[-1]["run_id"]
    return [r for r in rows if r["run_id"] == run], run


def load(path):
    return list(csv.DictReader(open(path, newline="")))


def codec(args):
    rows, run = last_run(load(args[0]))
    try:
        cg, _ = last_run(load(args[1]))
    except (OSError, IndexError):
        cg = []
    fig, ax = plt.subplots(1, 3 if cg else 2, figsize=(13 if cg else 9, 4))
    kinds = ["cpu", "sensor"]
    w = 0.38
    for k, codec_ in enumerate(["json", "msgpack"]):
        sel = {r["kind"]: r for r in rows if r["codec"] == codec_}
        xs = [i + (k - 0.5) * w for i in range(len(kinds))]
        ax[0].bar(xs, [float(sel[x]["bytes"]) for x in kinds], w, label=codec_)
        for x, kind in zip(xs, kinds):
            ax[0].text(x, float(sel[kind]["bytes"]), "%.0f" % float(sel[kind]["bytes"]),
                       ha="center", va="bottom", fontsize=7)
        ax[1].bar([x - w / 4 for x in xs], [float(sel[x]["encode_ns"]) / 1000 for x in kinds], w / 2,
                  yerr=[float(sel[x]["encode_ci95_ns"]) / 1000 for x in kinds],
                  label=codec_ + " encode", hatch="//")
        ax[1].bar([x + w / 4 for x in xs], [float(sel[x]["decode_ns"]) / 1000 for x in kinds], w / 2,
                  yerr=[float(sel[x]["decode_ci95_ns"]) / 1000 for x in kinds],
                  label=codec_ + " decode")
        if cg:
            c = {(r["kind"], r["op"]): int(r["instructions_per_op"]) for r in cg if r["codec"] == codec_}
            ax[2].bar([x - w / 4 for x in xs], [c[(x, "encode")] for x in kinds], w / 2,
                      label=codec_ + " encode", hatch="//")
            ax[2].bar([x + w / 4 for x in xs], [c[(x, "decode")] for x in kinds], w / 2,
                      label=codec_ + " decode")
    ax[0].set_title("bytes per message")
    ax[0].set_yscale("log")
    ax[1].set_title("time per message (us, 95% CI)")
    ax[1].set_yscale("log")
    if cg:
        ax[2].set_title("instructions per message (callgrind)")
        ax[2].set_yscale("log")
    for a in ax:
        a.set_xticks(range(len(kinds)))
        a.set_xticklabels(kinds)
        a.legend(fontsize=7)
    fig.suptitle("JSON vs MessagePack (run %s)" % run, fontsize=9)
    fig.tight_layout()
    fig.savefig(args[2], dpi=100)


def genloop(args):
    rows, run = last_run(load(args[0]))
    labels = ["%s\n%s" % (r["case"], r["codec"]) for r in rows]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(range(len(rows)), [float(r["mean_ns"]) / 1000 for r in rows],
           yerr=[float(r["ci95_ns"]) / 1000 for r in rows], capsize=4)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("us per iteration (mean, 95% CI)")
    ax.set_title("generator loop: gen_next + encode (R=%s x L=%s, run %s)"
                 % (rows[0]["runs"], rows[0]["loops"], run), fontsize=9)
    fig.tight_layout()
    fig.savefig(args[1], dpi=100)


def series_key(r, skip):
    return " ".join(x for x in (r["tool"], r.get("settings", "")) if x and x not in skip)


def bars(args):
    rows, run = last_run(load(args[0]))
    rows = [r for r in rows if r["pair"] != "0"]
    keys = []
    for r in rows:
        k = (r["tool"], r.get("settings", ""))
        if k not in keys:
            keys.append(k)
    med = [statistics.median(float(r["rate_wall"]) for r in rows if (r["tool"], r.get("settings", "")) == k)
           for k in keys]
    lo = [min(float(r["rate_wall"]) for r in rows if (r["tool"], r.get("settings", "")) == k) for k in keys]
    hi = [max(float(r["rate_wall"]) for r in rows if (r["tool"], r.get("settings", "")) == k) for k in keys]
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(keys)), 4))
    ax.bar(range(len(keys)), med, yerr=[[m - a for m, a in zip(med, lo)], [b - m for m, b in zip(med, hi)]],
           capsize=4)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels(["%s\n%s" % (t, s.replace(" ", "\n", 2)) for t, s in keys], fontsize=6)
    ax.set_ylabel("msgs/s (median, min-max over pairs)")
    ax.set_title("%s (run %s)" % (args[2], run), fontsize=9)
    fig.tight_layout()
    fig.savefig(args[1], dpi=100)


def sweep(args):
    rows, run = last_run(load(args[0]))
    xcol = args[3]
    rows = [r for r in rows if r.get("pair", "1") != "0"]
    series = {}
    for r in rows:
        series.setdefault(r["series"], {}).setdefault(float(r[xcol]), []).append(float(r["rate"]))
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, pts in sorted(series.items()):
        xs = sorted(pts)
        ax.plot(xs, [statistics.median(pts[x]) for x in xs], marker="o", label=name)
    if all(x > 0 for pts in series.values() for x in pts):
        ax.set_xscale("log")
    ax.set_xlabel(xcol)
    ax.set_ylabel("msgs/s (median)")
    ax.legend(fontsize=7)
    ax.set_title("%s (run %s)" % (args[2], run), fontsize=9)
    fig.tight_layout()
    fig.savefig(args[1], dpi=100)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    {"codec": codec, "genloop": genloop, "bars": bars, "sweep": sweep}[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
