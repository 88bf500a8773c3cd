#!/usr/bin/env python3
"""analyze.py DIR...: one line per kept sink DB (the 1 kHz runs): e2e p50/p99/
p99.9/max and each stage's p99 and max (gen = sent - intended, g2p =
processed - sent, p2s = stored - processed, ms), the longest gap between two
consecutive stored_ns (ms), and how many records had e2e > 100 ms."""
import glob, os, sqlite3, sys
def pct(v, f): return v[min(len(v) - 1, int(f * len(v)))]
print("dir,db,rows,e2e_p50,e2e_p99,e2e_p999,e2e_max,gen_p99,gen_max,g2p_p99,g2p_max,p2s_p99,p2s_max,max_store_gap_ms,n_over_100ms")
for d in sys.argv[1:]:
    for db in sorted(glob.glob(os.path.join(d, "*.db"))):
        r = sqlite3.connect(db).execute("SELECT intended_ns, sent_ns, processed_ns, stored_ns FROM cpu_stats").fetchall()
        if not r: continue
        e = sorted((s - i) / 1e6 for i, _, _, s in r)
        g = sorted((se - i) / 1e6 for i, se, _, _ in r)
        gp = sorted((p - se) / 1e6 for _, se, p, _ in r)
        ps = sorted((s - p) / 1e6 for _, _, p, s in r)
        st = sorted(x[3] for x in r)
        gap = max((b - a) / 1e6 for a, b in zip(st, st[1:]))
        print(f"{os.path.basename(d)},{os.path.basename(db)},{len(r)},{pct(e,.5):.2f},{pct(e,.99):.2f},{pct(e,.999):.2f},{e[-1]:.2f},"
              f"{pct(g,.99):.2f},{g[-1]:.2f},{pct(gp,.99):.2f},{gp[-1]:.2f},{pct(ps,.99):.2f},{ps[-1]:.2f},{gap:.1f},{sum(x > 100 for x in e)}")
