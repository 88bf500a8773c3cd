#!/usr/bin/env python3
"""Summarize one run of a throughput CSV written by lib.sh.

usage: summarize.py CSV RUN_ID|last REF [RATE_COLUMN] [GROUP_COLUMN]

Per tool (and per value of GROUP_COLUMN, e.g. settings): the median rate
over the recorded pairs (pair 0, the warm-up, is left out), CPU per message,
and the ratio REF / tool computed pair by pair: its median and min-max.
A ratio > 1 means REF (normally streamctl) was faster in that pair.
"""
import csv
import statistics
import sys


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    path, run, ref = sys.argv[1:4]
    col = sys.argv[4] if len(sys.argv) > 4 else "rate_wall"
    group = sys.argv[5] if len(sys.argv) > 5 else "settings"
    rows = list(csv.DictReader(open(path, newline="")))
    if run == "last":
        run = rows[-1]["run_id"]
    rows = [r for r in rows if r["run_id"] == run and r["pair"] != "0"]
    if not rows:
        sys.exit("summarize: no rows of run %s in %s" % (run, path))
    groups = sorted({r.get(group, "") for r in rows})
    print("run %s  (%s; median over pairs; ratio = %s / tool, per pair)" % (run, col, ref))
    for g in groups:
        rs = [r for r in rows if r.get(group, "") == g]
        tools = []
        for r in rs:
            if r["tool"] not in tools:
                tools.append(r["tool"])
        by = {(r["tool"], r["pair"]): r for r in rs}
        if len(groups) > 1 or g:
            print("  [%s]" % g)
        print("  %-22s %12s %10s %9s  %s" % ("tool", "msgs/s", "cpu us/msg", "pairs", "ratio %s/tool median (min-max)" % ref))
        for t in tools:
            rates = [float(r[col]) for r in rs if r["tool"] == t]
            cpu = [float(r["cpu_per_msg_us"]) for r in rs if r["tool"] == t]
            ratios = []
            for (tool, pair), r in by.items():
                if tool != t or (ref, pair) not in by:
                    continue
                a = float(by[(ref, pair)][col])
                b = float(r[col])
                if b > 0:
                    ratios.append(a / b)
            rtxt = ""
            if t != ref and ratios:
                rtxt = "%.2f (%.2f-%.2f)" % (statistics.median(ratios), min(ratios), max(ratios))
            print("  %-22s %12.0f %10.2f %9d  %s" % (t, statistics.median(rates), statistics.median(cpu), len(rates), rtxt))


if __name__ == "__main__":
    main()
