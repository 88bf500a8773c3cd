#!/usr/bin/env python3
"""broker-failure.py - tables and plot of scripts/experiments/broker-failure.sh.

  broker-failure.py record RUN_DIR CSV SUMMARY_CSV
      reads one run's raw files (run.env, *.stats JSON lines, *.log with an
      epoch second in front of each line, metadata.log: kcat -L every second,
      verify-*.out) and appends one row per second to CSV and one row to
      SUMMARY_CSV (headers written when the files are new).
  broker-failure.py plot CSV SUMMARY_CSV PNG
      plots the latest run of each replication factor found in CSV.

Per-second values: second s covers [t0+s, t0+s+1), t0 being the moment the
generators started. A role's value for second s comes from its stats line
whose reporting interval (previous line .. this line, about 1 s) contains
the middle of that second; rates and latency percentiles are over that
interval, lag and counters at its end. A role that wrote no line for a
while (it was blocked: a generator in publish, a processor in the flush of
its outputs) has no values for those seconds, and its *_silent_s column
(seconds since its last line) says how long it has been quiet. backlog is
what the generators had handed to the client library minus what the sink
had stored (or refused as duplicate), both interpolated to the middle of
the second.
"""

import csv
import json
import os
import re
import sys

OFFERED_LOW = 0.5  # a second is "stalled" when the sink stores < 50% of the offered rate


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
    return env


def read_stats(path):
    """Periodic lines (sorted by ts) and the final line of a stats file."""
    lines, final = [], None
    if not os.path.exists(path):
        return lines, final
    with open(path) as f:
        for raw in f:
            raw = raw.strip()
            if not raw.startswith("{"):
                continue
            try:
                d = json.loads(raw)
            except ValueError:
                continue
            if d.get("final"):
                final = d
            else:
                lines.append(d)
    lines.sort(key=lambda d: d["ts_ns"])
    prev_ts, prev_stored = None, 0
    for d in lines:
        start = d["ts_ns"] - int(d["elapsed_s"] * 1e9) if prev_ts is None else prev_ts
        d["_start"] = start
        dt = (d["ts_ns"] - start) / 1e9
        d["_stored_rate"] = (d.get("stored", 0) - prev_stored) / dt if dt > 0 else 0.0
        prev_ts, prev_stored = d["ts_ns"], d.get("stored", 0)
    return lines, final


def silence(lines, m):
    """Seconds since the role's last stats line before instant m (None when
    the role is not running at m)."""
    if not lines or m > lines[-1]["ts_ns"] or m < lines[0]["_start"]:
        return None
    lb = last_before(lines, m)
    return (m - (lb["ts_ns"] if lb else lines[0]["_start"])) / 1e9


MAX_INTERVAL_NS = 2500000000  # a longer reporting interval says nothing about one second


def covering(lines, m):
    """The stats line whose interval contains instant m (ns), or None (also
    when that interval is longer than MAX_INTERVAL_NS: the role was blocked
    and its per-second values are unknown; its *_silent_s column says so)."""
    for d in lines:
        if d["ts_ns"] >= m:
            ok = d["_start"] <= m and d["ts_ns"] - d["_start"] <= MAX_INTERVAL_NS
            return d if ok else None
    return None


def cumulative(lines, final, m, key):
    """Counter `key` at instant m, interpolated linearly between stats lines."""
    prev_ts, prev_v = None, 0
    pts = lines + ([final] if final else [])
    for d in pts:
        if d["ts_ns"] >= m:
            if prev_ts is None:
                start = d["ts_ns"] - int(d["elapsed_s"] * 1e9)
                if m <= start:
                    return 0
                prev_ts = start
            f = (m - prev_ts) / (d["ts_ns"] - prev_ts) if d["ts_ns"] > prev_ts else 1
            return prev_v + f * (d.get(key, 0) - prev_v)
        prev_ts, prev_v = d["ts_ns"], d.get(key, 0)
    return prev_v


def last_before(lines, m):
    out = None
    for d in lines:
        if d["ts_ns"] <= m:
            out = d
        else:
            break
    return out


def read_log_seconds(path):
    """Epoch seconds of each stderr line (stamped by the shell script), and the lines."""
    secs, texts = [], []
    if not os.path.exists(path):
        return secs, texts
    with open(path, errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split(" ", 1)
            if parts and parts[0].isdigit():
                secs.append(int(parts[0]))
                texts.append(parts[1] if len(parts) > 1 else "")
    return secs, texts


PART_RE = re.compile(
    r"^\s*partition (\d+), leader (-?\d+), replicas: ([\d,]*), isrs: ([\d,]*)(.*)$")
TOPIC_RE = re.compile(r'^\s*topic "([^"]+)" with (\d+) partitions')
BROKER_RE = re.compile(r"^\s*broker (\d+) at ")


def read_metadata(path, ns):
    """kcat -L snapshots: list of (ts_ns, brokers, {topic: {part: (leader, replicas, isr)}})."""
    snaps, cur = [], None
    topic = None
    if not os.path.exists(path):
        return snaps
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("@"):
                cur = (int(line[1:]), [], {})
                snaps.append(cur)
                topic = None
                continue
            if cur is None:
                continue
            m = BROKER_RE.match(line)
            if m:
                cur[1].append(int(m.group(1)))
                continue
            m = TOPIC_RE.match(line)
            if m:
                topic = m.group(1) if m.group(1).startswith(ns + ".") else None
                if topic:
                    cur[2][topic] = {}
                continue
            m = PART_RE.match(line)
            if m and topic:
                ints = lambda s: [int(x) for x in s.split(",") if x]
                cur[2][topic][int(m.group(1))] = (int(m.group(2)), ints(m.group(3)),
                                                  ints(m.group(4)))
    return [s for s in snaps if s[2]]


def read_partitions(path, ns):
    """The partitions that carried data when the victim was chosen:
    [(topic without namespace, partition, leader)]."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 4 and int(parts[3]) > 0:
                out.append((parts[0][len(ns) + 1:], int(parts[1]), int(parts[2])))
    return out


def compact(snap, ns, data_parts):
    """'raw.cpu/1:L2[2,3,1] ...': leader and ISR of each partition that carries data."""
    if snap is None:
        return ""
    out = []
    for topic, p, _leader in data_parts:
        entry = snap[2].get(ns + "." + topic, {}).get(p)
        if entry:
            out.append("%s/%d:L%d[%s]" % (topic, p, entry[0], ",".join(map(str, entry[2]))))
    return " ".join(out)


def snap_counts(snap):
    offline = urp = 0
    for parts in snap[2].values():
        for leader, replicas, isr in parts.values():
            if leader < 0:
                offline += 1
            if len(isr) < len(replicas):
                urp += 1
    return offline, urp


def parse_verify(path):
    """(text, rows, gaps, missing, duplicates) of a one-source verify output."""
    if not os.path.exists(path):
        return "", "", "", "", ""
    text = open(path, errors="replace").read().strip()
    rows = gaps = missing = dups = ""
    m = re.search(r"\): (\d+) rows", text)
    if m:
        rows = int(m.group(1))
    m = re.search(r"(\d+) gaps? \((\d+) missing\)", text)
    gaps, missing = (int(m.group(1)), int(m.group(2))) if m else (0 if rows != "" else "", 0)
    m = re.search(r"missing tail [\d-]+ \((\d+)\)", text)
    if m and missing != "":
        missing += int(m.group(1))
    m = re.search(r"(\d+) duplicates refused", text)
    if m:
        dups = int(m.group(1))
    keep = [ln for ln in text.splitlines() if "expecting seq" not in ln]
    return " | ".join(keep), rows, gaps, missing, dups


def fnum(x, nd=1):
    if x is None or x == "":
        return ""
    if isinstance(x, float):
        return ("%." + str(nd) + "f") % x
    return str(x)


def append_rows(path, header, rows):
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(header)
        for r in rows:
            w.writerow([r.get(h, "") for h in header])


SECOND_HEADER = [
    "run", "date", "rf", "min_insync", "partitions", "cpu_rate", "sensor_rate", "kill_at",
    "restart_at", "victim", "kafka_version", "librdkafka_version", "streamctl_commit",
    "t_s", "phase", "gen_cpu_rate_out", "gen_sensor_rate_out", "gen_silent_s",
    "proc_silent_s", "sink_silent_s", "proc_rate_in", "proc_rate_out", "proc_lag", "sink_rate_in", "sink_stored_rate",
    "sink_lag", "sink_e2e_p50_ms", "sink_e2e_p99_ms", "sink_e2e_max_ms", "backlog",
    "stats_errors", "log_lines_gen", "log_lines_process", "log_lines_sink",
    "brokers_in_metadata", "offline_partitions", "under_replicated_partitions",
    "leaders_isr",
]

SUMMARY_HEADER = [
    "run", "date", "rf", "min_insync", "partitions", "cpu_rate", "sensor_rate", "cpu_n",
    "sensor_n", "kill_at", "restart_at", "victim", "victim_raw_partitions",
    "victim_was_quorum_leader", "fenced_t_s", "node_ready_t_s", "unfenced_t_s", "kafka_version", "librdkafka_version",
    "streamctl_commit", "load_avg", "gen_cpu_exit", "gen_sensor_exit", "gen_cpu_sent",
    "gen_sensor_sent", "gen_errors", "gen_max_silent_s", "proc_max_silent_s",
    "sink_max_silent_s", "gen_low_rate_s", "gen_end_t_s", "kill_t_s", "stall_s",
    "stall_from_t_s", "stall_to_t_s", "recovered_after_kill_s", "low_rate_s", "victim_led", "metadata_failover_s", "isr_full_again_t_s",
    "max_sink_lag", "max_proc_lag", "max_backlog", "max_e2e_p99_ms", "e2e_p99_all_ms",
    "e2e_max_all_ms", "process_exit", "sink_exit", "sink_duplicates_refused",
    "verify_cpu_exit", "verify_cpu_rows", "verify_cpu_gaps", "verify_cpu_missing",
    "verify_sensor_exit", "verify_sensor_rows", "verify_sensor_gaps", "verify_sensor_missing",
    "verify_duplicates", "client_log_lines", "first_client_log", "leaders_before",
    "leaders_during", "leaders_after", "verify_text",
]


def record(run_dir, csv_path, summary_path):
    env = read_env(os.path.join(run_dir, "run.env"))
    ns = env["namespace"]
    t0 = int(env["t0_ns"])
    kill_ns, restart_ns = int(env["kill_ns"]), int(env["restart_ns"])
    ready_ns = int(env["ready_ns"]) if env.get("ready_ns") else None
    gen_end_ns = int(env["gen_end_ns"])
    victim = int(env["victim"])
    offered = float(env["cpu_rate"]) + float(env["sensor_rate"])

    st = {r: read_stats(os.path.join(run_dir, r + ".stats"))
          for r in ("gen-cpu", "gen-sensor", "process", "sink")}
    logs = {r: read_log_seconds(os.path.join(run_dir, r + ".log"))
            for r in ("gen-cpu", "gen-sensor", "process", "sink")}
    snaps = read_metadata(os.path.join(run_dir, "metadata.log"), ns)
    data_parts = read_partitions(os.path.join(run_dir, "partitions-at-kill.txt"), ns)

    last_ts = max([d["ts_ns"] for r in st for d in st[r][0]] + [gen_end_ns])
    nsec = int((last_ts - t0) / 1e9) + 1
    rel = lambda ns_: (ns_ - t0) / 1e9
    common = {k: env.get(k, "") for k in (
        "run", "date", "rf", "min_insync", "partitions", "cpu_rate", "sensor_rate", "kill_at",
        "restart_at", "victim", "kafka_version", "librdkafka_version", "streamctl_commit")}

    rows = []
    for s in range(nsec):
        m = t0 + int((s + 0.5) * 1e9)
        row = dict(common)
        row["t_s"] = s
        if m < kill_ns:
            phase = "before"
        elif m < restart_ns:
            phase = "node_down"
        elif ready_ns is None or m < ready_ns:
            phase = "restarting"
        elif m < gen_end_ns:
            phase = "after"
        else:
            phase = "drain"
        row["phase"] = phase
        gc, gs = covering(st["gen-cpu"][0], m), covering(st["gen-sensor"][0], m)
        pr, sk = covering(st["process"][0], m), covering(st["sink"][0], m)
        row["gen_cpu_rate_out"] = fnum(gc["rate_out"]) if gc else ""
        row["gen_sensor_rate_out"] = fnum(gs["rate_out"]) if gs else ""
        silent = []
        for r in ("gen-cpu", "gen-sensor"):
            silent.append(silence(st[r][0], m))
        silent = [x for x in silent if x is not None]
        row["gen_silent_s"] = fnum(max(silent)) if silent else ""
        row["proc_silent_s"] = fnum(silence(st["process"][0], m))
        row["sink_silent_s"] = fnum(silence(st["sink"][0], m))
        if pr:
            row["proc_rate_in"] = fnum(pr["rate_in"])
            row["proc_rate_out"] = fnum(pr["rate_out"])
            row["proc_lag"] = pr.get("lag", "")
        if sk:
            row["sink_rate_in"] = fnum(sk["rate_in"])
            row["sink_stored_rate"] = fnum(sk["_stored_rate"])
            row["sink_lag"] = sk.get("lag", "")
            e2e = sk.get("e2e_ms", {})
            if e2e.get("n"):
                row["sink_e2e_p50_ms"] = fnum(e2e["p50"], 2)
                row["sink_e2e_p99_ms"] = fnum(e2e["p99"], 2)
                row["sink_e2e_max_ms"] = fnum(e2e["max"], 2)
        sent = sum(cumulative(st[r][0], st[r][1], m, "out") for r in ("gen-cpu", "gen-sensor"))
        done = (cumulative(st["sink"][0], st["sink"][1], m, "stored") +
                cumulative(st["sink"][0], st["sink"][1], m, "duplicates"))
        row["backlog"] = int(round(sent - done))
        errs = 0
        for r in st:
            lb = last_before(st[r][0], m)
            errs += lb.get("errors", 0) if lb else 0
        row["stats_errors"] = errs
        sec_epoch = (t0 + s * 1000000000) // 1000000000
        row["log_lines_gen"] = sum(logs[r][0].count(sec_epoch) for r in ("gen-cpu", "gen-sensor"))
        row["log_lines_process"] = logs["process"][0].count(sec_epoch)
        row["log_lines_sink"] = logs["sink"][0].count(sec_epoch)
        snap = None
        for sn in snaps:
            if sn[0] <= m + 500000000:
                snap = sn
            else:
                break
        if snap and snap[0] >= m - 2000000000:
            row["brokers_in_metadata"] = len(snap[1])
            off, urp = snap_counts(snap)
            row["offline_partitions"] = off
            row["under_replicated_partitions"] = urp
            row["leaders_isr"] = compact(snap, ns, data_parts)
        rows.append(row)
    append_rows(csv_path, SECOND_HEADER, rows)

    # ---- summary ----
    kill_s = int(rel(kill_ns))
    gen_end_s = rel(gen_end_ns)
    run_s = int(env["run_s"])
    # low seconds: the sink stores < 50% of the offered rate, between the
    # kill and the generators' nominal end; the stall is the run of them
    # that starts within 2 s of the kill
    low = [r["t_s"] for r in rows
           if kill_s <= r["t_s"] < run_s and r.get("sink_stored_rate", "") != ""
           and float(r["sink_stored_rate"]) < OFFERED_LOW * offered]
    stall = []
    for t in low:
        if (not stall and t <= kill_s + 2) or (stall and t == stall[-1] + 1):
            stall.append(t)
        elif stall:
            break
    gen_low = [r["t_s"] for r in rows if r["t_s"] < int(gen_end_s) - 1 and
               (float(r["gen_cpu_rate_out"] or 0) + float(r["gen_sensor_rate_out"] or 0))
               < OFFERED_LOW * offered]
    num = lambda key: [float(r[key]) for r in rows if r.get(key, "") != ""]
    mx = lambda key: max(num(key)) if num(key) else ""

    back_ns = int(env["unfenced_ns"]) if env.get("unfenced_ns") else ready_ns

    def failover():
        """Seconds from the kill until every partition of the run's topics has a
        live leader (not -1, not the victim before the controller let it back
        in); ISR full again (s since t0) after the victim is back. kcat is
        sampled every 1-2 s: both are known to about that."""
        fo = full = None
        for sn in snaps:
            if sn[0] < kill_ns:
                continue
            victim_back = back_ns is not None and sn[0] >= back_ns
            leaders = [p[0] for parts in sn[2].values() for p in parts.values()]
            if fo is None and leaders and all(
                    lv >= 0 and (lv != victim or victim_back) for lv in leaders):
                fo = rel(sn[0]) - rel(kill_ns)
            if victim_back and full is None and snap_counts(sn) == (0, 0):
                full = rel(sn[0])
        return fo, full

    fo, full = failover()
    before = [sn for sn in snaps if sn[0] < kill_ns]
    during = [sn for sn in snaps if kill_ns + 5e9 <= sn[0] < restart_ns]
    sink_final = st["sink"][1] or {}
    gen_final = {r: st[r][1] or {} for r in ("gen-cpu", "gen-sensor")}
    vc = parse_verify(os.path.join(run_dir, "verify-cpu.out"))
    vs = parse_verify(os.path.join(run_dir, "verify-sensor.out"))
    all_logs = []
    for r in ("gen-cpu", "gen-sensor", "process", "sink"):
        all_logs += [(sec, r, txt) for sec, txt in zip(*logs[r])]
    all_logs.sort()
    gen_silent = num("gen_silent_s")
    summary = {k: env.get(k, "") for k in (
        "run", "date", "rf", "min_insync", "partitions", "cpu_rate", "sensor_rate", "cpu_n",
        "sensor_n", "kill_at", "restart_at", "victim", "victim_raw_partitions",
        "kafka_version", "librdkafka_version", "streamctl_commit", "load_avg", "gen_cpu_exit",
        "gen_sensor_exit", "process_exit", "sink_exit", "verify_cpu_exit",
        "verify_sensor_exit")}
    summary.update({
        "victim_was_quorum_leader": int(env.get("quorum_leader", "") == env["victim"]),
        "node_ready_t_s": fnum(rel(ready_ns)) if ready_ns else "never",
        "fenced_t_s": fnum(rel(int(env["fenced_ns"]))) if env.get("fenced_ns") else "",
        "unfenced_t_s": fnum(rel(int(env["unfenced_ns"]))) if env.get("unfenced_ns") else "",
        "gen_cpu_sent": gen_final["gen-cpu"].get("out", ""),
        "gen_sensor_sent": gen_final["gen-sensor"].get("out", ""),
        "gen_errors": sum(g.get("errors", 0) for g in gen_final.values()),
        "gen_max_silent_s": fnum(max(gen_silent)) if gen_silent else "",
        "gen_low_rate_s": len(gen_low),
        "gen_end_t_s": fnum(gen_end_s),
        "proc_max_silent_s": fnum(mx("proc_silent_s")),
        "sink_max_silent_s": fnum(mx("sink_silent_s")),
        "kill_t_s": fnum(rel(kill_ns), 2),
        "recovered_after_kill_s": fnum(stall[-1] + 1 - rel(kill_ns)) if stall else "",
        "stall_s": len(stall),
        "stall_from_t_s": stall[0] if stall else "",
        "stall_to_t_s": stall[-1] + 1 if stall else "",
        "low_rate_s": len(low),
        "victim_led": " ".join("%s/%d" % (t, p) for t, p, l in data_parts if l == victim),
        "metadata_failover_s": fnum(fo) if fo is not None else "never",
        "isr_full_again_t_s": fnum(full) if full is not None else "never",
        "max_sink_lag": fnum(mx("sink_lag"), 0),
        "max_proc_lag": fnum(mx("proc_lag"), 0),
        "max_backlog": fnum(mx("backlog"), 0),
        "max_e2e_p99_ms": fnum(mx("sink_e2e_p99_ms"), 1),
        "e2e_p99_all_ms": fnum(sink_final.get("e2e_ms", {}).get("p99", ""), 1),
        "e2e_max_all_ms": fnum(sink_final.get("e2e_ms", {}).get("max", ""), 1),
        "sink_duplicates_refused": sink_final.get("duplicates", ""),
        "verify_cpu_rows": vc[1], "verify_cpu_gaps": vc[2], "verify_cpu_missing": vc[3],
        "verify_sensor_rows": vs[1], "verify_sensor_gaps": vs[2],
        "verify_sensor_missing": vs[3],
        "verify_duplicates": (vc[4] or 0) + (vs[4] or 0) if vc[4] != "" or vs[4] != "" else "",
        "client_log_lines": len(all_logs),
        "first_client_log": ("t=%d %s: %s" % (all_logs[0][0] - t0 // 1000000000, all_logs[0][1],
                                               all_logs[0][2][:200])) if all_logs else "",
        "leaders_before": compact(before[-1] if before else None, ns, data_parts),
        "leaders_during": compact(during[-1] if during else None, ns, data_parts),
        "leaders_after": compact(snaps[-1] if snaps else None, ns, data_parts),
        "verify_text": vc[0] + " | " + vs[0],
    })
    append_rows(summary_path, SUMMARY_HEADER, [summary])
    print("broker-failure: rf %s: stall %s s (t=%s..%s), generators silent up to %s s, "
          "max lag %s, max backlog %s, max e2e p99 %s ms, verify cpu %s sensor %s, "
          "duplicates refused %s" % (
              summary["rf"], summary["stall_s"], summary["stall_from_t_s"],
              summary["stall_to_t_s"], summary["gen_max_silent_s"], summary["max_sink_lag"],
              summary["max_backlog"], summary["max_e2e_p99_ms"], summary["verify_cpu_exit"],
              summary["verify_sensor_exit"], summary["sink_duplicates_refused"]))


def plot(csv_path, summary_path, png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    latest = {}
    for r in rows:
        latest[r["rf"]] = r["run"]  # the file is appended in time order
    summaries = {}
    if os.path.exists(summary_path):
        with open(summary_path) as f:
            for r in csv.DictReader(f):
                summaries[r["run"]] = r
    first = rows[-1] if rows else {}
    fig, axes = plt.subplots(3, 1, figsize=(10, 9.5), sharex=True)
    colors = {"1": "tab:red", "3": "tab:blue"}
    kill_at = restart_at = None
    for rf, run in sorted(latest.items()):
        rr = [r for r in rows if r["run"] == run]
        c = colors.get(rf, None)
        t = [int(r["t_s"]) + 0.5 for r in rr]
        val = lambda k: [float(r[k]) if r[k] != "" else float("nan") for r in rr]
        gen = [a + b for a, b in zip(
            [x if x == x else 0 for x in val("gen_cpu_rate_out")],
            [x if x == x else 0 for x in val("gen_sensor_rate_out")])]
        axes[0].plot(t, val("sink_stored_rate"), color=c, lw=1.8,
                     label="RF %s: rows stored by sink / s" % rf)
        axes[0].plot(t, gen, color=c, lw=1, ls="--", label="RF %s: generators' sends / s" % rf)
        axes[1].plot(t, val("sink_e2e_p99_ms"), color=c, lw=1.5, label="RF %s" % rf)
        axes[2].plot(t, val("backlog"), color=c, lw=1.5,
                     label="RF %s: sent, not yet stored" % rf)
        axes[2].plot(t, val("proc_lag"), color=c, lw=1, ls=":",
                     label="RF %s: processor consumer lag" % rf)
        kill_at, restart_at = float(rr[0]["kill_at"]), float(rr[0]["restart_at"])
        sm = summaries.get(run, {})
        kill_t = float(sm.get("kill_t_s") or rr[0]["kill_at"])
        for ax in axes:
            ax.axvline(kill_t, color=c, lw=1.2)
        axes[0].annotate("SIGKILL (RF %s)" % rf, (kill_t, 0.06 + 0.1 * (rf == "3")),
                         xycoords=("data", "axes fraction"), xytext=(3, 0),
                         textcoords="offset points", fontsize=8, color=c)
        ready = sm.get("node_ready_t_s", "")
        if ready not in ("", "never"):
            for ax in axes:
                ax.axvline(float(ready), color=c, ls=":", lw=1)
            axes[0].annotate("RF %s: node back" % rf, (float(ready), 0.5),
                             xycoords=("data", "axes fraction"), xytext=(3, -14 * (rf == "3")),
                             textcoords="offset points", color=c, fontsize=8)
    for ax in axes:
        if kill_at is not None:
            ax.axvline(restart_at, color="tab:green", lw=1.2, ls="--")
        ax.grid(alpha=0.3)
    if kill_at is not None:
        axes[0].annotate("restart it", (restart_at, 0.12), xycoords=("data", "axes fraction"),
                         xytext=(3, 0), textcoords="offset points", fontsize=8, color="tab:green")
    offered = float(first.get("cpu_rate") or 0) + float(first.get("sensor_rate") or 0)
    cap = 3 * offered if offered else None
    if cap:
        axes[0].set_ylim(-0.05 * cap, cap)
        for rf, run in sorted(latest.items()):
            rr = [r for r in rows if r["run"] == run and r["sink_stored_rate"] != ""]
            peak = max(rr, key=lambda r: float(r["sink_stored_rate"]), default=None)
            if peak and float(peak["sink_stored_rate"]) > cap:
                axes[0].annotate("RF %s catch-up peak %.0f/s" % (rf, float(peak["sink_stored_rate"])),
                                 (int(peak["t_s"]) + 0.5, cap), xytext=(5, -12 - 12 * (rf == "3")),
                                 textcoords="offset points", fontsize=8, color=colors.get(rf))
    axes[0].set_ylabel("records / s")
    axes[0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.36, 0.82))
    axes[1].set_yscale("log")
    axes[1].set_ylabel("sink e2e latency p99 (ms)\nfrom intended send time")
    axes[1].set_title("(no point: no record stored in that second)", fontsize=8, loc="left")
    axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(0.36, 0.98))
    axes[2].set_ylabel("records")
    axes[2].legend(fontsize=7, loc="upper left")
    axes[2].set_xlabel("seconds since the generators started")
    fig.suptitle("Leader node SIGKILLed at t≈%s s, restarted at t=%s s (3 nodes, %s partitions, "
                 "cpu %s/s + sensor %s/s, acks=all)\nRF 1: min.insync.replicas 1; "
                 "RF 3: min.insync.replicas 2; Kafka %s, librdkafka %s" % (
                     first.get("kill_at"), first.get("restart_at"), first.get("partitions"),
                     first.get("cpu_rate"), first.get("sensor_rate"),
                     first.get("kafka_version"), first.get("librdkafka_version")), fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    print("broker-failure: plotted runs %s into %s" % (", ".join(sorted(latest.values())), png))


def main(argv):
    if len(argv) == 5 and argv[1] == "record":
        record(argv[2], argv[3], argv[4])
    elif len(argv) == 5 and argv[1] == "plot":
        plot(argv[2], argv[3], argv[4])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
