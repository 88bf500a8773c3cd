#!/usr/bin/env python3
"""stages.py DB RATE [--gaps]: e2e percentiles of one pipeline run's sink DB
and, for the worst records, which stage the time went to:
gen = sent - intended (generator late), g2p = processed - sent (broker queue 1
+ processor), p2s = stored - processed (broker queue 2 + sink up to the row's
stored_ns).  Prints one summary line; with --gaps also the 1 s windows
whose max e2e exceeds 20 ms, with per-stage maxima and epoch times."""
import sqlite3, sys
db, rate = sys.argv[1], sys.argv[2]
con = sqlite3.connect(db)
rows = con.execute("SELECT intended_ns, sent_ns, processed_ns, stored_ns FROM cpu_stats ORDER BY intended_ns").fetchall()
if not rows:
    print(f"{db} rate {rate}: no rows"); sys.exit()
e2e = sorted((s - i) / 1e6 for i, _, _, s in rows)
q = lambda f: e2e[min(len(e2e) - 1, int(f * len(e2e)))]
worst = max(rows, key=lambda r: r[3] - r[0])
i, se, pr, st = worst
print(f"{db.split('/')[-1]} rate {rate}: rows {len(rows)} p50 {q(.5):.2f} p99 {q(.99):.2f} "
      f"p99.9 {q(.999):.2f} max {e2e[-1]:.2f} ms; worst record at {i/1e9:.3f}: gen {(se-i)/1e6:.1f} "
      f"g2p {(pr-se)/1e6:.1f} p2s {(st-pr)/1e6:.1f} ms")
if "--gaps" in sys.argv:
    t0 = rows[0][0]
    win = {}
    for r in rows:
        w = (r[0] - t0) // 1000000000
        m = win.setdefault(w, [0, 0, 0, 0, r[0]])
        for k, v in enumerate(((r[3]-r[0]), (r[1]-r[0]), (r[2]-r[1]), (r[3]-r[2]))):
            m[k] = max(m[k], v / 1e6)
    for w, m in sorted(win.items()):
        if m[0] > 20:
            print(f"  s {w:3d} (epoch {m[4]/1e9:.1f}): e2e max {m[0]:.1f} gen {m[1]:.1f} g2p {m[2]:.1f} p2s {m[3]:.1f} ms")
