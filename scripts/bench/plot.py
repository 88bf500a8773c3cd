#!/usr/bin/env python3
"""Plots of the benchmark CSVs (issue 8, 20); every figure is made from the
CSV files, never by hand.  Each plot uses the same run as the REPORT's table
(scripts/report.py select(): the newest complete run with load1 <= 3.0) and
names it.

usage: plot.py all                 every plot below from bench/results into docs/img
       plot.py one NAME.csv        the plot(s) of one CSV
       (BENCH_RESULTS / BENCH_IMG override the directories)

Parameter sweeps use one panel per parameter, categorical x axes (the
values tried, evenly spaced and labelled, not a log scale over three
points), and error bars that say what they are.
"""
import os
import statistics
import sys
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import report  # noqa: E402  (scripts/report.py: the same run selection)

IMG = os.environ.get("BENCH_IMG", os.path.join(report.ROOT, "docs", "img"))


def title(ax_or_fig, text, run, width=70):
    t = "\n".join(textwrap.wrap(text, width)) + "\n(run %s)" % run
    if hasattr(ax_or_fig, "suptitle"):
        ax_or_fig.suptitle(t, fontsize=9)
    else:
        ax_or_fig.set_title(t, fontsize=9)


def save(fig, name):
    fig.tight_layout()
    fig.savefig(os.path.join(IMG, name), dpi=100)
    plt.close(fig)


def pick(name):
    rs = report.latest(name)
    return rs, (rs[0]["run_id"] if rs else None)


def codec():
    rows, run = pick("codec.csv")
    if not rows:
        return
    cg, _ = pick("codec-callgrind.csv")
    kinds = ["cpu", "sensor"]
    fig, ax = plt.subplots(2, 3 if cg else 2, figsize=(13 if cg else 9, 6))
    for j, kind in enumerate(kinds):
        sel = {r["codec"]: r for r in rows if r["kind"] == kind}
        cs = ["json", "msgpack"]
        ax[j][0].bar(cs, [float(sel[c]["bytes"]) for c in cs], color=["C0", "C1"])
        ax[j][0].set_ylabel(kind)
        ax[j][0].set_title("bytes per %s record" % kind, fontsize=8)
        x = range(2)
        for k, op in enumerate(("encode", "decode")):
            ax[j][1].bar([i + (k - 0.5) * 0.38 for i in x], [float(sel[c][op + "_ns"]) / 1000 for c in cs],
                         0.38, yerr=[float(sel[c][op + "_ci95_ns"]) / 1000 for c in cs], capsize=3,
                         label=op, hatch="//" if op == "encode" else None)
        ax[j][1].set_xticks(list(x))
        ax[j][1].set_xticklabels(cs)
        ax[j][1].set_title("µs per %s record (mean, 95%% CI of the mean)" % kind, fontsize=8)
        ax[j][1].legend(fontsize=7)
        if cg:
            c = {(r["codec"], r["op"]): int(r["instructions_per_op"]) for r in cg if r["kind"] == kind}
            for k, op in enumerate(("encode", "decode")):
                ax[j][2].bar([i + (k - 0.5) * 0.38 for i in x], [c[(cc, op)] for cc in cs], 0.38, label=op,
                             hatch="//" if op == "encode" else None)
            ax[j][2].set_xticks(list(x))
            ax[j][2].set_xticklabels(cs)
            ax[j][2].set_title("instructions per %s record (callgrind)" % kind, fontsize=8)
            ax[j][2].legend(fontsize=7)
    title(fig, "JSON vs MessagePack, cpu and sensor records (linear axes, one row per record kind)",
          run, 120)
    save(fig, "codec.png")


def genloop():
    rows, run = pick("genloop.csv")
    if not rows:
        return
    groups = [("cpu", [r for r in rows if r["case"].startswith("cpu")]),
              ("sensor", [r for r in rows if r["case"].startswith("sensor")])]
    groups = [(g, rs) for g, rs in groups if rs]
    fig, ax = plt.subplots(1, len(groups), figsize=(9, 4))
    ax = ax if len(groups) > 1 else [ax]
    for a, (g, rs) in zip(ax, groups):
        a.bar(range(len(rs)), [float(r["mean_ns"]) / 1000 for r in rs],
              yerr=[float(r["ci95_ns"]) / 1000 for r in rs], capsize=4)
        a.set_xticks(range(len(rs)))
        a.set_xticklabels(["%s\n%s\nR=%s L=%s" % (r["case"], r["codec"], r["runs"], r["loops"]) for r in rs],
                          fontsize=7)
        a.set_ylabel("µs per iteration")
        a.set_title("%s: mean, error bar = 95%% CI of the mean" % g, fontsize=8)
    title(fig, "Generator loop (gen_next + encode, no sleep): mean with the 95% confidence "
          "interval of the mean; the standard deviation of single iterations is in the REPORT's table",
          run, 100)
    save(fig, "genloop.png")


def panels(name, out, text, xcol, by="series", ycol="rate", ylabel="records/s (median over rounds)"):
    rows, run = pick(name)
    if not rows:
        return
    rows = [r for r in rows if r.get("pair") != "0"]
    series = list(dict.fromkeys(r[by] for r in rows))
    fig, ax = plt.subplots(1, len(series), figsize=(4 * len(series), 4), squeeze=False)
    for a, s in zip(ax[0], series):
        rs = [r for r in rows if r[by] == s]
        xs = sorted(set(r[xcol] for r in rs), key=float)
        ys = [[float(r[ycol]) for r in rs if r[xcol] == x] for x in xs]
        med = [statistics.median(y) for y in ys]
        a.bar(range(len(xs)), med, yerr=[[m - min(y) for m, y in zip(med, ys)],
                                         [max(y) - m for m, y in zip(med, ys)]], capsize=4)
        a.set_xticks(range(len(xs)))
        a.set_xticklabels(xs)
        a.set_xlabel(s if by == "series" and s in ("consumers", "prefetch", "confirm window") else xcol)
        a.set_title(s, fontsize=8)
        a.set_ylabel(ylabel + ", bars: min–max", fontsize=7)
    title(fig, text, run, 40 * len(series))
    save(fig, out)


def mqtt_qos():
    """Throughput of the unpaced runs; end-to-end latency of the paced ones
    (at a rate all QoS levels sustain, latency is what differs)."""
    rows, run = pick("exp-mqtt-qos.csv")
    if not rows:
        return
    rows = [r for r in rows if r.get("pair") != "0"]
    series = list(dict.fromkeys(r["series"] for r in rows))
    fig, ax = plt.subplots(1, len(series), figsize=(4.5 * len(series), 4), squeeze=False)
    for a, s in zip(ax[0], series):
        rs = [r for r in rows if r["series"] == s]
        qs = sorted(set(r["qos"] for r in rs), key=int)
        if s.endswith(" 0"):
            ys = [[float(r["rate"]) for r in rs if r["qos"] == q] for q in qs]
            m = [statistics.median(y) for y in ys]
            a.bar(range(len(qs)), m, yerr=[[v - min(y) for v, y in zip(m, ys)], [max(y) - v for v, y in zip(m, ys)]],
                  capsize=4)
            a.set_ylabel("records/s (median; bars: min–max over rounds)", fontsize=7)
            a.set_title("%s (unpaced): throughput" % s, fontsize=8)
        else:
            for k, col in enumerate(("e2e_p50_ms", "e2e_p99_ms")):
                m = [statistics.median(float(r[col]) for r in rs if r["qos"] == q) for q in qs]
                a.bar([i + (k - 0.5) * 0.38 for i in range(len(qs))], m, 0.38, label=col[4:7])
            a.set_ylabel("end-to-end latency, ms (median over rounds)", fontsize=7)
            a.set_title("%s/s (paced): latency from the intended send time" % s, fontsize=8)
            a.legend(fontsize=7)
        a.set_xticks(range(len(qs)))
        a.set_xticklabels(qs)
        a.set_xlabel("QoS")
    title(fig, "MQTT pipeline (generate -> process -> sink) by QoS", run, 100)
    save(fig, "exp-mqtt-qos.png")


def grouped(name, out, text, xcol, by="series"):
    """One panel, x = the values of xcol (categorical), one bar per series."""
    rows, run = pick(name)
    if not rows:
        return
    rows = [r for r in rows if r.get("pair") != "0"]
    series = list(dict.fromkeys(r[by] for r in rows))
    xs = sorted(set(r[xcol] for r in rows), key=float)
    fig, ax = plt.subplots(figsize=(7, 4))
    w = 0.8 / len(series)
    for k, s in enumerate(series):
        pts = [(i, [float(r["rate"]) for r in rows if r[by] == s and r[xcol] == x]) for i, x in enumerate(xs)]
        pts = [(i, y) for i, y in pts if y]
        med = [statistics.median(y) for _, y in pts]
        ax.bar([i + (k - (len(series) - 1) / 2) * w for i, _ in pts], med, w, label=s,
               yerr=[[m - min(y) for m, (_, y) in zip(med, pts)], [max(y) - m for m, (_, y) in zip(med, pts)]],
               capsize=3)
    ax.set_xticks(range(len(xs)))
    ax.set_xticklabels(xs)
    ax.set_xlabel(xcol + " (categories, not to scale)")
    ax.set_ylabel("records/s (median; bars: min–max over rounds)", fontsize=8)
    ax.legend(fontsize=7)
    title(ax, text, run)
    save(fig, out)


def replication():
    rows, run = pick("exp-kafka-replication.csv")
    if not rows:
        return
    rows = [r for r in rows if r.get("pair") != "0"]
    keys = list(dict.fromkeys((r["brokers"], r["rf"], r["min_insync"]) for r in rows))
    ys = [[float(r["rate"]) for r in rows if (r["brokers"], r["rf"], r["min_insync"]) == k] for k in keys]
    med = [statistics.median(y) for y in ys]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.bar(range(len(keys)), med, yerr=[[m - min(y) for m, y in zip(med, ys)], [max(y) - m for m, y in zip(med, ys)]],
           capsize=4)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels(["%s broker%s\nRF %s, min.insync %s" % (b, "s" if b != "1" else "", rf, mi)
                        for b, rf, mi in keys], fontsize=8)
    ax.set_ylabel("records/s (median; bars: min–max over rounds)", fontsize=8)
    r0 = rows[0]
    title(ax, "Kafka on ONE 2-core host: 1 vs 3 brokers, replication factor 1 vs 3 (%s producers, "
          "%s records, %s partitions, acks=all)" % (r0["producers"], r0["count"], r0["partitions"]), run, 60)
    save(fig, "exp-kafka-replication.png")


def bars(name, out, text):
    rows, run = pick(name)
    if not rows:
        return
    rows = [r for r in rows if r["pair"] != "0"]
    keys = list(dict.fromkeys((r["tool"], r.get("settings", "")) for r in rows))
    ys = [[float(r["rate_wall"]) for r in rows if (r["tool"], r.get("settings", "")) == k] for k in keys]
    med = [statistics.median(y) for y in ys]
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(keys)), 4))
    ax.bar(range(len(keys)), med, yerr=[[m - min(y) for m, y in zip(med, ys)], [max(y) - m for m, y in zip(med, ys)]],
           capsize=4)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels(["%s\n%s" % (t, "\n".join(textwrap.wrap(s, 18))) for t, s in keys], fontsize=6)
    ax.set_ylabel("msgs/s (median; bars: min–max over pairs)")
    title(ax, text, run)
    save(fig, out)


def broker_failure():
    pass  # docs/img/broker-failure.png is made by scripts/experiments/broker-failure.sh


PLOTS = {
    "codec.csv": codec,
    "codec-callgrind.csv": codec,
    "genloop.csv": genloop,
    "exp-amqp.csv": lambda: panels(
        "exp-amqp.csv", "exp-amqp.png",
        "RabbitMQ: one parameter per panel (the others at their defaults), records/s end to end", "value"),
    "exp-mqtt-qos.csv": mqtt_qos,
    "exp-kafka-scaling.csv": lambda: grouped(
        "exp-kafka-scaling.csv", "exp-kafka-scaling.png",
        "Kafka: processors in one group by partition count", "partitions"),
    "exp-kafka-producers.csv": lambda: grouped(
        "exp-kafka-producers.csv", "exp-kafka-producers.png",
        "Kafka: concurrent producers (all records on one partition leader)", "producers"),
    "exp-kafka-replication.csv": replication,
}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("all", "one"):
        sys.exit(__doc__)
    os.makedirs(IMG, exist_ok=True)
    names = list(PLOTS) if sys.argv[1] == "all" else sys.argv[2:]
    done = set()
    for n in names:
        fn = PLOTS.get(os.path.basename(n))
        if fn is None:
            sys.exit("plot.py: no plot for %s" % n)
        if fn not in done:
            fn()
            done.add(fn)


if __name__ == "__main__":
    main()
