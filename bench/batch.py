#!/usr/bin/env python3
"""Batch benchmark (AVS's loop): 100 items of one code, three ways, in one run of one server.

  singles     100 POST /v1/execute, one after another (what a client without batches does)
  item        POST /v1/execute/batch, isolation "item" (a sandbox per item), parallelism 1 and 4
  batch       POST /v1/execute/batch, isolation "batch" (one sandbox, a fresh context per item)

For each: wall time of the whole (median of --rounds), and ratios against singles measured in
the same run. Every outcome must be ok with the item's own result, else the script exits 1.

Python 3.11 standard library only; needs target/release/nodecell (built). Uses bench/service.py's
server handling (SIGTERM at the end, nothing left behind). NODE_EXTRA_CA_CERTS is removed.
"""
import argparse
import http.client
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import service  # noqa: E402  (the Server class and clean environment)

ITEMS = 100
CODE = "return { doubled: value * 2, index }"


def post(conn, path, body):
    conn.request("POST", path, json.dumps(body), {"content-type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        raise RuntimeError(f"{path}: HTTP {r.status}: {data[:300]!r}")
    return json.loads(data)


def check(outcomes, label):
    if len(outcomes) != ITEMS:
        raise RuntimeError(f"{label}: {len(outcomes)} outcomes")
    for i, o in enumerate(outcomes):
        if o["status"] != "ok" or o["result"] != {"doubled": i * 2, "index": i}:
            raise RuntimeError(f"{label}: item {i}: {json.dumps(o)[:300]}")


def singles(conn):
    outcomes = [post(conn, "/v1/execute", {"code": CODE, "inputs": {"value": i, "index": i}})
                for i in range(ITEMS)]
    check(outcomes, "singles")


def batch(conn, isolation, parallelism):
    r = post(conn, "/v1/execute/batch", {"code": CODE, "items": list(range(ITEMS)),
                                         "isolation": isolation, "parallelism": parallelism})
    check(r["outcomes"], f"{isolation}/{parallelism}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--port-base", type=int, default=18490)
    ap.add_argument("--backend", default="native")
    args = ap.parse_args()
    service.BACKEND = args.backend
    cores = os.cpu_count() or 2
    server = service.Server(args.port_base, args.port_base + 1, pool=4, max_conc=2 * cores,
                            max_queue=256)
    try:
        server.wait_ready()
        conn = http.client.HTTPConnection("127.0.0.1", args.port_base, timeout=120)
        ways = [
            ("100 single calls", lambda: singles(conn)),
            ("batch, item isolation, parallelism 1", lambda: batch(conn, "item", 1)),
            ("batch, item isolation, parallelism 4", lambda: batch(conn, "item", 4)),
            ("batch, batch isolation", lambda: batch(conn, "batch", 1)),
        ]
        times = {name: [] for name, _ in ways}
        for _ in range(args.rounds):
            for name, run in ways:  # interleaved: the machine's noise hits every way alike
                t = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - t)
        ref = statistics.median(times[ways[0][0]])
        print(f"batch benchmark: {ITEMS} items of {CODE!r}, backend {args.backend}, "
              f"{cores} cores, median of {args.rounds} rounds")
        for name, _ in ways:
            m = statistics.median(times[name])
            print(f"  {name:40s} {m * 1e3:9.1f} ms  {m * 1e3 / ITEMS:7.2f} ms/item  "
                  f"x{ref / m:6.2f} vs singles")
    finally:
        server.stop("batch server")
    if service.PROBLEMS:
        print("problems:", *service.PROBLEMS, sep="\n  ")
        sys.exit(1)


if __name__ == "__main__":
    main()
