#!/usr/bin/env python3
"""How many rounds the JSON encoder's old double printer needed (REPORT
section 6, item 4).

The old put_dbl() printed a double with "%.15g", parsed it back with strtod
and, if it did not round-trip, tried "%.16g" and then "%.17g".  Python's
%-formatting and float() are the same C conversions, so this counts, over
the non-integer doubles of N simulated sensor records (streamctl generate
--source=sensor --seed=S, JSON), how many needed round 1, 2 or 3.

usage: dtoa-rounds.py --header; dtoa-rounds.py STREAMCTL [N [SEED]]  -> a CSV row
The committed bench/results/dtoa-rounds.csv was made with
  { scripts/bench/dtoa-rounds.py --header
    for i in 1 2 3; do scripts/bench/dtoa-rounds.py build/streamctl 20 1; done; }
The seed fixes the simulated motion, but the values also depend on the
start time, so runs differ a little: the CSV keeps three.
"""
import json
import struct
import subprocess
import sys


def frames(data):
    """streamctl's pipe framing: "SC", codec byte, reserved byte, u32 BE length."""
    i = 0
    while i + 8 <= len(data):
        n = struct.unpack(">I", data[i + 4:i + 8])[0]
        yield data[i + 8:i + 8 + n]
        i += 8 + n


def doubles(x):
    if isinstance(x, float):
        yield x
    elif isinstance(x, dict):
        for v in x.values():
            yield from doubles(v)
    elif isinstance(x, list):
        for v in x:
            yield from doubles(v)


def rounds(v):
    for k, p in enumerate((15, 16, 17), 1):
        if float("%.*g" % (p, v)) == v:
            return k
    return 4


def main():
    if "--header" in sys.argv:
        print("records,seed,doubles,non_integer,round1,round2,round3,share_round2or3_pct")
        return
    sc, n, seed = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20, \
        sys.argv[3] if len(sys.argv) > 3 else "1"
    out = subprocess.run([sc, "generate", "--source=sensor", f"--seed={seed}", f"--count={n}",
                          "--rate=0", "--codec=json", "--stats=/dev/null", "--progress=never"],
                         check=True, capture_output=True).stdout
    allv = [v for f in frames(out) for v in doubles(json.loads(f))]
    nonint = [v for v in allv if v != int(v)]
    c = [0, 0, 0, 0, 0]
    for v in nonint:
        c[rounds(v)] += 1
    share = 100.0 * (c[2] + c[3]) / len(nonint) if nonint else 0.0
    print(f"{n},{seed},{len(allv)},{len(nonint)},{c[1]},{c[2]},{c[3]},{share:.1f}")


if __name__ == "__main__":
    main()
