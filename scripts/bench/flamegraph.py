#!/usr/bin/env python3
"""Render collapsed stacks ("a;b;c COUNT" lines, as `pprof --collapsed` and
stackcollapse tools print) as a flame graph PNG and SVG with matplotlib.

usage: flamegraph.py COLLAPSED OUT_BASENAME [TITLE]    -> OUT.png, OUT.svg
Width is the share of samples; the root is at the bottom; frames narrower
than 0.2% are not labelled.
"""
import hashlib
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def build(path):
    root = {"n": 0, "kids": {}}
    for line in open(path):
        line = line.rstrip()
        if not line or " " not in line:
            continue
        stack, count = line.rsplit(" ", 1)
        try:
            c = int(count)
        except ValueError:
            continue
        node = root
        node["n"] += c
        for f in stack.split(";"):
            f = re.sub(r"<[0-9a-fx]+>$", "", f)  # pprof's addresses
            node = node["kids"].setdefault(f, {"n": 0, "kids": {}})
            node["n"] += c
    return root


def colour(name):
    h = int(hashlib.md5(name.encode()).hexdigest()[:6], 16)
    return (0.85 + (h % 15) / 100, 0.35 + ((h >> 8) % 40) / 100, 0.1 + ((h >> 16) % 20) / 100)


def main():
    src, out = sys.argv[1], sys.argv[2]
    title = sys.argv[3] if len(sys.argv) > 3 else src
    root = build(src)
    total = root["n"] or 1
    rects = []

    def walk(node, x, depth):
        for name, kid in sorted(node["kids"].items()):
            w = kid["n"] / total
            rects.append((x, depth, w, name, kid["n"]))
            walk(kid, x, depth + 1)
            x += w

    walk(root, 0.0, 0)
    depth = max((r[1] for r in rects), default=0) + 1
    fig, ax = plt.subplots(figsize=(16, max(3, 0.22 * depth + 1)))
    for x, d, w, name, n in rects:
        ax.add_patch(plt.Rectangle((x, d), w, 0.95, facecolor=colour(name), edgecolor="white", lw=0.3))
        if w > 0.002:
            label = name if len(name) * 0.0045 < w else name[: max(0, int(w / 0.0045) - 2)] + ".."
            if len(label) > 2:
                ax.text(x + 0.002, d + 0.45, label, fontsize=6, va="center", clip_on=True)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, depth)
    ax.set_yticks([])
    ax.set_xlabel("share of %d samples" % total)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out + ".png", dpi=100)
    fig.savefig(out + ".svg")


if __name__ == "__main__":
    main()
