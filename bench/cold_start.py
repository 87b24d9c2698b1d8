#!/usr/bin/env python3
"""Cold start: `nodecell run` of `return 1` against bare `env -i node -e 0`, in one run.

Runs both commands alternately (so machine noise hits both alike), prints medians, p90s
and the ratio of medians. Target (issue 2): ratio <= 1.5.

    python3 bench/cold_start.py [--runs N]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(cmd):
    t = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={})
    dt = (time.perf_counter() - t) * 1000
    if r.returncode != 0:
        sys.exit(f"{cmd} failed ({r.returncode}): {r.stderr.decode()[:500]}")
    return dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args()
    nodecell = os.path.join(ROOT, "target/release/nodecell")
    if not os.path.exists(nodecell):
        sys.exit("build first: scripts/setup.sh")
    bare = ["/usr/bin/node", "-e", "0"]
    cell = [nodecell, "run", os.path.join(ROOT, "bench/return1.js")]
    for _ in range(3):  # warm the page cache
        timed(bare), timed(cell)
    a, b = [], []
    for _ in range(args.runs):
        a.append(timed(bare))
        b.append(timed(cell))
    q = lambda xs, p: sorted(xs)[min(len(xs) - 1, int(p * len(xs)))]
    print(f"{'command':<40} {'median ms':>10} {'p90 ms':>10}")
    print(f"{'env -i node -e 0':<40} {statistics.median(a):>10.1f} {q(a, 0.9):>10.1f}")
    print(f"{'nodecell run return1.js (native)':<40} {statistics.median(b):>10.1f} {q(b, 0.9):>10.1f}")
    ratio = statistics.median(b) / statistics.median(a)
    print(f"ratio of medians: {ratio:.2f} (target <= 1.5) over {args.runs} runs each, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
