#!/usr/bin/env python3
"""export.py DB...: each sink DB as DB.records.csv.gz (intended_ns, then
gen/g2p/p2s in us: sent-intended, processed-sent, stored-processed), the
per-record raw data of analyze.py in a form small enough to commit."""
import gzip, sqlite3, sys
for db in sys.argv[1:]:
    with gzip.open(db[:-3] + ".records.csv.gz", "wt") as f:
        f.write("intended_ns,gen_us,g2p_us,p2s_us\n")
        for i, s, p, st in sqlite3.connect(db).execute("SELECT intended_ns, sent_ns, processed_ns, stored_ns FROM cpu_stats ORDER BY intended_ns"):
            f.write(f"{i},{(s-i)//1000},{(p-s)//1000},{(st-p)//1000}\n")
