#!/usr/bin/env python3
"""Exact call counts per function from a callgrind output file.

usage: cgcalls.py CALLGRIND_OUT [REGEX]   -> CSV on stdout: function,calls,
self_ir,inclusive_ir (instructions), one row per function, most calls first;
with REGEX only the functions whose name matches it.  Inlined functions have
no calls of their own in callgrind: they do not appear.
"""
import collections
import re
import sys


def parse(path):
    names = {}
    calls = collections.Counter()
    self_ir = collections.Counter()
    incl_extra = collections.Counter()
    fn = cfn = None
    pending = None

    def name(kind, rest):
        m = re.match(r"\((\d+)\)(?: (.*))?", rest)
        if not m:
            return rest
        key = (kind, m.group(1))
        if m.group(2) is not None:
            names[key] = m.group(2)
        return names.get(key, rest)

    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("fn="):
                fn, pending = name("fn", line[3:]), None
            elif line.startswith(("cfn=", "cfi=", "cfl=")):
                if line.startswith("cfn="):
                    cfn = name("fn", line[4:])
            elif line.startswith("calls="):
                pending = int(line[6:].split()[0])
                calls[cfn] += pending
            elif line and (line[0].isdigit() or line[0] in "+-*") and fn is not None:
                parts = line.split()
                ir = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
                if pending is not None:
                    incl_extra[fn] += ir   # cost of the call, inclusive of callee
                    pending = None
                else:
                    self_ir[fn] += ir
    return calls, self_ir, incl_extra


def main():
    calls, self_ir, extra = parse(sys.argv[1])
    rx = re.compile(sys.argv[2]) if len(sys.argv) > 2 else None
    print("function,calls,self_ir,inclusive_ir")
    fns = set(calls) | set(self_ir)
    for f in sorted(fns, key=lambda f: (-calls[f], f)):
        if rx and not rx.search(f):
            continue
        print(f'"{f}",{calls[f]},{self_ir[f]},{self_ir[f] + extra[f]}')


if __name__ == "__main__":
    main()
