#!/usr/bin/env python3
"""Soak: many mixed runs through `nodecell serve` on one backend, then leak checks.

    python3 bench/soak.py --backend native|nsjail|landlock|docker|gvisor [--runs 10000] [--concurrency 4]

Starts target/release/nodecell serve on free loopback ports (HTTP and gRPC) with a private
TMPDIR (so the landlock backend's scratch directories land where only this soak looks) and a
tag in the sandbox environment (SOAK_TAG=<random>, so every process of its runs can be
found wherever it ends up). Then --concurrency clients, each on one persistent HTTP
connection, drive --runs runs of these kinds (a fixed pseudo-random mix, --seed):

  normal     `return 1`, a lodash call with inputs, logs, an awaited timer      -> ok
  failing    throw, TypeError, a rejected promise                            -> error
  timeout    a busy loop / a never-ending timer under timeout_ms 150          -> timeout
  hostile    a few files of tests/hostile (fork bomb, output floods, a deep
             directory tree, a detached child, a heap bomb, SIGKILL of the
             parent, ignored SIGTERM)                      -> the file's expect-status
  cancelled  a 3 s job whose client closes the connection after 30-300 ms

A 429 is retried after 10 ms. Every --sample-every runs it samples the server's VmRSS, fd
count and number of descendant processes. After the load it waits for the server to go
idle (its pool refilled) and checks, failing (exit 1) on any of:

  - RSS growth: the last sample above the first sample after --warmup runs by more than
    --rss-growth-pct percent plus --rss-growth-mib MiB;
  - an outcome other than the kind's expected one, any other HTTP status, a connection
    error (two in a row on one request);
  - processes: descendants of the idle server above the baseline (taken after a few
    warm-up runs, pool full), or a tagged process outside the server's tree; after the
    server stops (SIGTERM), any tagged process at all, or the server not exiting in 30 s;
  - fds of the idle server above the baseline;
  - mounts: lines of /proc/self/mountinfo after the stop that were not there before;
  - scratch directories: anything left in the private TMPDIR after the stop (while idle,
    the scratch parent holds only the warm pool's);
  - cgroups: a group of this server (named after its pid, or seen holding one of its
    tagged processes) still present after the stop.

Prints a table: runs/s, HTTP statuses and outcomes per kind, the RSS/fd/process series.
--json FILE writes the same figures as JSON. Leftover tagged processes are SIGKILLed by pid
after they are reported. Python 3.11 standard library only; run as root (it reads other
users' /proc entries). NODE_EXTRA_CA_CERTS is removed from the server's environment.
"""
import argparse
import collections
import http.client
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

# The process-tree walk the service benchmark uses (this directory is on sys.path when run).
from service import below

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODECELL = os.path.join(ROOT, "target/release/nodecell")
HOSTILE_DIR = os.path.join(ROOT, "tests/hostile")
CGROUP_ROOT = "/sys/fs/cgroup"

# file -> limits that replace the file's own (shorter, so the soak spends its time on many runs)
HOSTILE = {
    "proc-fork-bomb.js": {"timeout_ms": 3000},
    "res-stdout-flood.js": {},
    "res-console-flood.js": {},
    "res-empty-log-flood.js": {},
    "fs-deep-tree.js": {},
    "proc-detached-child.js": {},
    "res-heap-bomb.js": {},
    "sig-kill-parent.js": {},
    "res-sigterm-ignore.js": {},
}
MIX = [("normal", 60), ("failing", 14), ("timeout", 10), ("cancelled", 10), ("hostile", 6)]
NORMAL = [
    ("return 1", None),
    ("import _ from 'lodash'; return _.sum(trigger.data)", {"trigger": {"data": [1, 2, 3]}}),
    ("console.log('soak', n); return {n, s: 'x'.repeat(100)}", {"n": 7}),
    ("await new Promise(r => setTimeout(r, 10)); return [1, 2, 3]", None),
]
FAILING = ["throw new Error('soak')", "null.x", "await Promise.reject(new RangeError('r'))"]
TIMEOUT = ["while (true) {}", "await new Promise(() => setInterval(() => {}, 1000))"]
CANCELLED = "await new Promise(r => setTimeout(r, 3000)); return 1"


def hostile_jobs(backend):
    jobs = []
    for name, override in HOSTILE.items():
        header = {}
        with open(os.path.join(HOSTILE_DIR, name)) as f:
            code = f.read()
        for line in code.splitlines():
            if not line.startswith("// ") or ": " not in line:
                break
            key, value = line[3:].split(": ", 1)
            header[key] = value
        limits = json.loads(header.get("limits", "{}"))
        limits.update(override)
        expect = header.get(f"{backend}-expect-status", header["expect-status"])
        jobs.append((name, {"code": code, "limits": limits}, set(expect.split("|"))))
    return jobs


def make_job(kind, i, rng, hostile):
    """(label, request body, expected outcome statuses or None)."""
    if kind == "normal":
        code, inputs = NORMAL[i % len(NORMAL)]
        body = {"code": code}
        if inputs:
            body["inputs"] = inputs
        return kind, body, {"ok"}
    if kind == "failing":
        return kind, {"code": FAILING[i % len(FAILING)]}, {"error"}
    if kind == "timeout":
        return kind, {"code": TIMEOUT[i % len(TIMEOUT)], "limits": {"timeout_ms": 150}}, {"timeout"}
    if kind == "cancelled":
        return kind, {"code": CANCELLED, "limits": {"timeout_ms": 5000}}, None
    name, body, expect = hostile[rng.randrange(len(hostile))]
    return f"hostile {name}", body, expect


# ---------------------------------------------------------------- /proc and /sys


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def tagged(tag):
    """Pids of processes whose environment holds the tag."""
    needle = f"SOAK_TAG={tag}\0".encode()
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/environ", "rb") as f:
                    if needle in f.read():
                        out.append(int(p))
            except OSError:
                pass
    return out


def cgroups_of(pids):
    groups = set()
    for p in pids:
        try:
            with open(f"/proc/{p}/cgroup") as f:
                for line in f:
                    path = line.rstrip("\n").split(":", 2)[2]
                    if "nodecell-" in path:
                        groups.add(path)
        except OSError:
            pass
    return groups


def nodecell_cgroups():
    """Every cgroup directory named nodecell-* (and what is below one), in every hierarchy."""
    found = set()
    tops = [CGROUP_ROOT]
    if not os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")):
        tops = [os.path.join(CGROUP_ROOT, d) for d in os.listdir(CGROUP_ROOT)]
    for top in tops:
        if os.path.islink(top) or not os.path.isdir(top):
            continue
        stack = [(top, False)]
        while stack:
            d, inside = stack.pop()
            try:
                entries = os.scandir(d)
            except OSError:
                continue
            for e in entries:
                if e.is_dir(follow_symlinks=False):
                    mine = inside or e.name.startswith("nodecell-")
                    if mine:
                        found.add(os.path.relpath(e.path, CGROUP_ROOT))
                    # Groups live at the top of a hierarchy (or one level down); inside
                    # ours, everything counts.
                    if mine or d == top:
                        stack.append((e.path, mine))
    return found


def mounts():
    with open("/proc/self/mountinfo") as f:
        return collections.Counter(" ".join(line.split()[3:5]) for line in f)


# ---------------------------------------------------------------- the server


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args, work, tag):
    config = os.path.join(work, "soak.toml")
    env_pairs = [["PATH", "/usr/local/bin:/usr/bin:/bin"], ["HOME", "/tmp"], ["TZ", "UTC"],
                 ["LANG", "C.UTF-8"], ["SOAK_TAG", tag]]
    with open(config, "w") as f:
        f.write(f"[engine]\nsandbox_env = {json.dumps(env_pairs)}\n")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "NODE_EXTRA_CA_CERTS"}
    env["TMPDIR"] = work
    log = open(os.path.join(work, "server.log"), "wb")
    cmd = [args.nodecell, "serve", "--config", config, "--backend", args.backend,
           "--http-listen", f"127.0.0.1:{port}", "--grpc-listen", f"127.0.0.1:{free_port()}",
           "--pool-size", str(args.pool_size), "--max-concurrent", str(args.concurrency),
           "--max-queue", "256"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    t = time.monotonic()
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"soak: server exited with {proc.returncode}:\n{server_log(work)}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                return proc, port
        except OSError:
            pass
        if time.monotonic() - t > 60:
            proc.kill()
            raise SystemExit(f"soak: server not ready in 60 s:\n{server_log(work)}")
        time.sleep(0.05)


def server_log(work, tail=4000):
    try:
        with open(os.path.join(work, "server.log"), "rb") as f:
            return f.read()[-tail:].decode(errors="replace")
    except OSError:
        return ""


def stop_server(proc):
    t = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code = None
    return code, time.monotonic() - t


# ---------------------------------------------------------------- the clients


class Load:
    def __init__(self, args, port, plan, hostile):
        self.args, self.port, self.plan, self.hostile = args, port, plan, hostile
        self.lock = threading.Lock()
        self.next = 0
        self.done = 0
        self.retries_429 = 0
        self.reconnects = 0
        self.outcomes = collections.defaultdict(collections.Counter)  # kind -> Counter
        self.problems = []

    def take(self):
        with self.lock:
            if self.next >= len(self.plan):
                return None
            self.next += 1
            return self.next - 1

    def finish(self, kind, outcome, problem=None):
        with self.lock:
            self.done += 1
            self.outcomes[kind][outcome] += 1
            if problem and len(self.problems) < 200:
                self.problems.append(problem)

    def client(self, seed):
        rng = random.Random(seed)
        conn = None
        while (i := self.take()) is not None:
            kind = self.plan[i]
            label, body, expect = make_job(kind, i, rng, self.hostile)
            data = json.dumps(body).encode()
            if kind == "cancelled":
                self.cancel(data, rng.uniform(0.03, 0.3))
                self.finish(kind, "closed by client")
                continue
            failures = 0
            while True:
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                    conn.request("POST", "/v1/execute", data, {"content-type": "application/json"})
                    resp = conn.getresponse()
                    raw = resp.read()
                except (OSError, http.client.HTTPException) as e:
                    conn.close()
                    conn = None
                    failures += 1
                    with self.lock:
                        self.reconnects += 1
                    if failures < 2:
                        continue
                    self.finish(kind, "connection error", f"{label}: {e!r}")
                    break
                if resp.status == 429:
                    with self.lock:
                        self.retries_429 += 1
                    time.sleep(0.01)
                    continue
                self.check(kind, label, resp.status, raw, expect)
                break
        if conn is not None:
            conn.close()

    def check(self, kind, label, status, raw, expect):
        try:
            outcome = json.loads(raw)["status"] if status == 200 else f"HTTP {status}"
        except (ValueError, KeyError, TypeError):
            outcome = f"HTTP {status} unparsable"
        problem = None
        if expect is not None and outcome not in expect:
            problem = f"{label}: {outcome} (expected {'|'.join(sorted(expect))}): {raw[:300]!r}"
        self.finish(kind if not kind == "hostile" else label, outcome, problem)

    def cancel(self, data, after_s):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            s.sendall(b"POST /v1/execute HTTP/1.1\r\nhost: soak\r\ncontent-type: application/json\r\n"
                      + f"content-length: {len(data)}\r\n\r\n".encode() + data)
            time.sleep(after_s)
        finally:
            s.close()


# ---------------------------------------------------------------- the soak


def wait_idle(pid, want_procs, want_fds, limit_s):
    """Waits until the server has at most the baseline's processes and fds. Returns the last
    figures and, if that took over 3 s, what the server held open at 3 s."""
    t, held = time.monotonic(), None
    while True:
        procs, fds = len(below(pid)), fd_count(pid)
        waited = time.monotonic() - t
        if (procs <= want_procs and fds <= want_fds) or waited > limit_s:
            return procs, fds, waited, held
        if held is None and waited > 3:
            held = collections.Counter()
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                held[target.split("[")[0] if "[" in target else target] += 1
            held = dict(held.most_common(8))
        time.sleep(0.25)


def settle(pid, limit_s=20):
    """Waits until the descendants' count has not changed for 1 s (the pool is full)."""
    t, last, since = time.monotonic(), -1, time.monotonic()
    while time.monotonic() - t < limit_s:
        n = len(below(pid))
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= 1:
            break
        time.sleep(0.1)
    return last


def soak(args):
    tag = secrets.token_hex(8)
    work = tempfile.mkdtemp(prefix="nodecell-soak-")
    os.chmod(work, 0o711)  # runs as nobody pass through it to their scratch directories
    problems = []
    figures = {"backend": args.backend, "runs": args.runs, "concurrency": args.concurrency}
    mounts_before, cgroups_before = mounts(), nodecell_cgroups()
    proc, port = start_server(args, work, tag)
    pid = proc.pid
    ours = set()  # cgroups seen holding this server's processes
    try:
        # Warm-up: a few runs so that lazily opened files count in the baseline.
        prime = Load(args, port, ["normal"] * 8, [])
        prime.client(0)
        procs_base = settle(pid)
        fds_base = fd_count(pid)
        figures["baseline"] = {"processes": procs_base, "fds": fds_base, "rss_kib": rss_kib(pid)}

        rng = random.Random(args.seed)
        kinds, weights = zip(*MIX)
        plan = rng.choices(kinds, weights, k=args.runs)
        load = Load(args, port, plan, hostile_jobs(args.backend))
        threads = [threading.Thread(target=load.client, args=(args.seed * 1000 + n,), daemon=True)
                   for n in range(args.concurrency)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        samples, next_sample = [], 0
        while True:
            alive = any(t.is_alive() for t in threads)
            if load.done >= next_sample or not alive:
                samples.append({"runs": load.done, "s": round(time.monotonic() - t0, 1),
                                "rss_kib": rss_kib(pid), "fds": fd_count(pid),
                                "processes": len(below(pid))})
                ours |= cgroups_of(tagged(tag))
                next_sample = load.done + args.sample_every
            if not alive:
                break
            if proc.poll() is not None:
                problems.append(f"the server exited with {proc.returncode} during the load")
                break
            time.sleep(0.1)
        duration = time.monotonic() - t0
        problems.extend(load.problems)
        figures.update({
            "duration_s": round(duration, 1), "runs_per_s": round(load.done / duration, 1),
            "retries_429": load.retries_429, "reconnects": load.reconnects,
            "outcomes": {k: dict(v) for k, v in sorted(load.outcomes.items())},
            "samples": samples,
        })

        # RSS after warm-up.
        after = [s for s in samples if s["runs"] >= args.warmup] or samples[-1:]
        first, last = after[0]["rss_kib"], samples[-1]["rss_kib"]
        peak = max(s["rss_kib"] for s in samples)
        allowed = first * (1 + args.rss_growth_pct / 100) + args.rss_growth_mib * 1024
        figures["rss_kib"] = {"first_after_warmup": first, "last": last, "max": peak,
                              "allowed": int(allowed)}
        if last > allowed:
            problems.append(f"RSS grew from {first} KiB (after {args.warmup} runs) to {last} KiB "
                            f"(allowed {int(allowed)} KiB)")

        # Idle: the pool refilled, every run's processes gone.
        procs, fds, waited, held = wait_idle(pid, procs_base, fds_base, 60)
        in_tree = set(below(pid))
        strays = [p for p in tagged(tag) if p not in in_tree]
        scratch = scratch_dirs(work, pid)
        figures["idle"] = {"processes": procs, "fds": fds, "waited_s": round(waited, 1),
                           "rss_kib": rss_kib(pid), "tagged_outside_server": len(strays),
                           "scratch_dirs": scratch}
        if held:
            figures["idle"]["open_after_3s"] = held
        if procs > procs_base:
            problems.append(f"idle server has {procs} descendant processes, baseline {procs_base}")
        if fds > fds_base:
            problems.append(f"idle server has {fds} fds, baseline {fds_base}")
        if strays and args.backend not in ("docker", "gvisor"):
            problems.append(f"processes of runs outside the server's tree: {describe(strays)}")
        # A container backend's sandboxes are the engine's processes: the warm ones only.
        containers = containers_of(pid)
        figures["idle"]["containers"] = len(containers)
        if len(containers) > args.pool_size:
            problems.append(f"{len(containers)} sandbox containers for a pool of {args.pool_size}")
        if args.backend == "landlock" and scratch is not None and scratch > args.pool_size:
            problems.append(f"{scratch} scratch directories for a pool of {args.pool_size}")
        ours |= cgroups_of(tagged(tag))
    finally:
        if proc.poll() is None:
            code, took = stop_server(proc)
            figures["stop"] = {"exit_code": code, "took_s": round(took, 2)}
            if code is None:
                problems.append("the server did not exit within 30 s of SIGTERM (SIGKILLed)")
            elif code != 0:
                problems.append(f"the server exited with {code} after SIGTERM")
    time.sleep(0.5)
    figures["after_stop"] = leftovers(work, tag, pid, ours, mounts_before, cgroups_before, problems)
    if problems:
        print(f"--- server log (tail)\n{server_log(work)}")
    shutil.rmtree(work, ignore_errors=True)
    return figures, problems


def scratch_dirs(work, pid):
    """Scratch directories in this server's scratch parent (None: it has no parent now)."""
    prefix = f"nodecell-{pid}-scratch-"
    parents = [e for e in os.listdir(work) if e.startswith(prefix)]
    if not parents:
        return None
    return sum(len(os.listdir(os.path.join(work, p))) for p in parents)


def describe(pids):
    out = []
    for p in pids[:10]:
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")[:100]
        except OSError:
            cmd = "?"
        out.append(f"{p} ({cmd})")
    return ", ".join(out) + (f" and {len(pids) - 10} more" if len(pids) > 10 else "")


def leftovers(work, tag, pid, ours, mounts_before, cgroups_before, problems):
    left = tagged(tag)
    if left:
        problems.append(f"processes of runs alive after the server stopped: {describe(left)}")
        for p in left:
            try:
                os.kill(int(p), signal.SIGKILL)
            except OSError:
                pass
    new_mounts = sorted((mounts() - mounts_before).elements())
    if new_mounts:
        problems.append(f"mounts left: {new_mounts[:10]}")
    files = sorted(e for e in os.listdir(work) if e not in ("soak.toml", "server.log"))
    if files:
        problems.append(f"left in the scratch parent's directory {work}: {files[:10]}")
    name = f"nodecell-{pid}-"
    groups = sorted(g for g in nodecell_cgroups() - cgroups_before
                    if os.path.basename(g).startswith(name) or g in ours
                    or any(g.startswith(o.lstrip("/") + "/") for o in ours))
    if groups:
        problems.append(f"cgroups left: {groups[:10]}")
    containers = containers_of(pid)
    if containers:
        problems.append(f"sandbox containers left: {containers[:10]}")
    return {"tagged_processes": len(left), "new_mounts": len(new_mounts),
            "scratch_entries": len(files), "cgroups": len(groups),
            "containers": len(containers)}


def containers_of(pid):
    """Sandbox containers of the Docker Engine at DOCKER_HOST (unix sockets) whose owner is
    the nodecell process `pid` (label org.nodecell.sandbox = <boot id>:<pid>:<start>)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://") or not os.path.exists(host[len("unix://"):]):
        return []
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(10)
    try:
        sock.connect(host[len("unix://"):])
        query = urllib.parse.quote(json.dumps({"label": ["org.nodecell.sandbox"]}))
        sock.sendall(f"GET /containers/json?all=1&filters={query} HTTP/1.0\r\nHost: docker\r\n\r\n"
                     .encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    except OSError:
        return []
    finally:
        sock.close()
    body = data.split(b"\r\n\r\n", 1)[-1]
    try:
        listed = json.loads(body)
    except ValueError:
        return []
    return [c["Id"][:12] for c in listed
            if (c.get("Labels") or {}).get("org.nodecell.sandbox", "").split(":")[1:2] == [str(pid)]]


def report(f, problems):
    print(f"\nsoak: backend {f['backend']}, {f['runs']} runs, concurrency {f['concurrency']}")
    print(f"  duration {f.get('duration_s', '?')} s, {f.get('runs_per_s', '?')} runs/s, "
          f"429 retries {f.get('retries_429', '?')}, reconnects {f.get('reconnects', '?')}")
    print("  outcomes per kind:")
    for kind, counts in f.get("outcomes", {}).items():
        print(f"    {kind:36} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if "samples" in f:
        print("  samples (runs, s, RSS MiB, fds, processes):")
        line = [f"{s['runs']}/{s['s']}/{s['rss_kib'] / 1024:.1f}/{s['fds']}/{s['processes']}"
                for s in f["samples"]]
        for i in range(0, len(line), 6):
            print("    " + "  ".join(line[i:i + 6]))
    if "rss_kib" in f:
        r = f["rss_kib"]
        print(f"  RSS KiB: first after warm-up {r['first_after_warmup']}, last {r['last']}, "
              f"max {r['max']}, allowed {r['allowed']}")
    for key in ("baseline", "idle", "stop", "after_stop"):
        if key in f:
            print(f"  {key}: " + ", ".join(f"{k} {v}" for k, v in f[key].items()))
    print(f"  problems: {len(problems)}")
    for p in problems[:30]:
        print(f"    !! {p}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", default="native")
    ap.add_argument("--runs", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--pool-size", type=int, default=2)
    ap.add_argument("--sample-every", type=int, default=0, help="default: runs / 40")
    ap.add_argument("--warmup", type=int, default=0, help="default: runs / 10, at least 50")
    ap.add_argument("--rss-growth-pct", type=float, default=20)
    ap.add_argument("--rss-growth-mib", type=float, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--nodecell", default=NODECELL)
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args()
    args.sample_every = args.sample_every or max(args.runs // 40, 1)
    args.warmup = args.warmup or max(args.runs // 10, 50)
    if os.geteuid() != 0:
        raise SystemExit("soak: run as root (it reads the /proc entries of runs as nobody)")
    figures, problems = soak(args)
    report(figures, problems)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"figures": figures, "problems": problems}, f, indent=1)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
