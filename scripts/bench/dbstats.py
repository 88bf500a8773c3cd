#!/usr/bin/env python3
"""Throughput and end-to-end latency of a finished pipeline run, from its sink DB.

usage: dbstats.py DB [TABLE]
prints: rows span_s p50_ms p99_ms p999_ms max_ms
span is from the first record's intended send time to the last row's
stored time; latency is stored_ns - intended_ns (from the intended time, so
a stalled generator shows up as latency: no coordinated omission).
"""
import sqlite3
import sys


def q(lat, f):
    if not lat:
        return 0.0
    return lat[min(len(lat) - 1, int(f * len(lat)))]


def main():
    db = sqlite3.connect(sys.argv[1])
    table = sys.argv[2] if len(sys.argv) > 2 else "cpu_stats"
    lat = sorted((s - i) / 1e6 for s, i in db.execute(
        "SELECT stored_ns, intended_ns FROM %s" % table))
    lo, hi = db.execute("SELECT min(intended_ns), max(stored_ns) FROM %s" % table).fetchone()
    span = (hi - lo) / 1e9 if lat else 0.0
    print("%d %.3f %.2f %.2f %.2f %.2f" % (len(lat), span, q(lat, 0.5), q(lat, 0.99),
                                          q(lat, 0.999), lat[-1] if lat else 0.0))


if __name__ == "__main__":
    main()
