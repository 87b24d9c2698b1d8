'use strict';
// Startup / job latency of the runner, as the host sees it.
//   node bench/timing.js [N] [--compare OTHER/runner.js] [--all] [--rehash]
// (run with NODE_EXTRA_CA_CERTS unset; children get an empty environment)
//
// Reports medians over N rounds; each round runs every variant once, in turn
// (A, B, C, C, B, A, ...), so drift on a noisy machine hits them alike:
//   node -e 0                 spawn -> exit of a bare node
//   minimal one-shot          a script that only reads the job frame on fd 3
//                             and writes a result frame to fd 4: spawn -> result, exit
//   runner lazy one-shot      `runner.js --lazy-modules` with the job (`return 1`)
//                             already waiting on fd 3: spawn -> result, exit
//   runner eager (warm pool)  runner.js: spawn -> ready; `return 1` sent -> result
// --compare adds the same runner figures for another runner.js (e.g. a copy of
// the previous version, with its caches built) to the same rounds.
// --rehash drops --no-rehash-snapshot (as with randomize_hash_seed = true).
// Rounds during which other processes kept the CPUs busy (from /proc/stat) are
// dropped and rerun; --all keeps every round.
const { spawn } = require('child_process');
const path = require('path');
const os = require('os');
const fs = require('fs');

const args = process.argv.slice(2);
const N = Number(args.find((a) => /^\d+$/.test(a))) || 20;
const KEEP_ALL = args.includes('--all');
const RUNNERS = [['runner', path.join(__dirname, '..', 'runner.js')]];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--compare') RUNNERS.push([`other`, path.resolve(args[++i])]);
}
// The engine's default flags for a sandbox's node (crates/nodecell/src/native.rs):
// the code caches are built for exactly these.
const NODE_FLAGS = ['--no-addons', ...(args.includes('--rehash') ? [] : ['--no-rehash-snapshot'])];
const JOB = { nonce: 'bench', code: 'return 1', inputs: {}, max_result_bytes: 1 << 20, max_output_bytes: 1 << 20 };
const now = () => Number(process.hrtime.bigint()) / 1e6;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

function frame(obj) {
  const body = Buffer.from(JSON.stringify(obj));
  const head = Buffer.alloc(4); head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

// One node process speaking the protocol. lazy: the job is written at spawn
// (a one-shot sandbox); otherwise it is sent once `ready` arrives (warm pool).
function once(script, runnerArgs, lazy) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const child = spawn(process.execPath, [...NODE_FLAGS, script, ...runnerArgs], {
      stdio: ['ignore', 'ignore', 'inherit', 'pipe', 'pipe'], cwd: os.tmpdir(), env: {},
    });
    const t = { ready: null, sent: null, result: null };
    const send = () => { t.sent = now(); child.stdio[3].end(frame(JOB)); };
    if (lazy) send();
    let buf = Buffer.alloc(0);
    child.stdio[4].on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const n = buf.readUInt32BE(0);
        const f = JSON.parse(buf.subarray(4, 4 + n)); buf = buf.subarray(4 + n);
        if (f.type === 'ready') {
          t.ready = now();
          if (!lazy) send();
        } else if (f.type === 'result' && t.result === null) {
          if (f.status !== 'ok' || f.result !== 1) reject(new Error(`${script}: ${JSON.stringify(f)}`));
          t.result = now();
        }
      }
    });
    child.on('error', reject);
    child.stdio[3].on('error', () => {});
    child.stdio[4].on('error', () => {});
    child.on('exit', () => {
      const exit = now();
      if (t.result === null) reject(new Error(`${script}: no result`));
      resolve({ ready: t.ready - t0, job: t.result - t.sent, result: t.result - t0, exit: exit - t0 });
    });
  });
}

function bareNode() {
  return new Promise((resolve) => {
    const t0 = now();
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore', env: {} });
    child.on('exit', () => resolve({ exit: now() - t0 }));
  });
}

// Share of CPU time the whole machine spent busy since the last call (null if unknown).
let lastCpu = null;
function busySinceLast() {
  let idle; let total;
  try {
    const f = fs.readFileSync('/proc/stat', 'latin1').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    idle = f[3] + f[4];
    total = f.reduce((a, b) => a + b, 0);
  } catch (_) {
    return null;
  }
  const prev = lastCpu;
  lastCpu = [idle, total];
  return prev === null || total === prev[1] ? null : 1 - (idle - prev[0]) / (total - prev[1]);
}
// A round keeps about one CPU busy; more than ~1.4 means something else ran.
const MAX_BUSY = Math.min(0.95, 1.4 / os.cpus().length);

(async () => {
  const minimal = path.join(os.tmpdir(), `nodecell-bench-minimal-${process.pid}.js`);
  fs.writeFileSync(minimal, [
    "const fs = require('fs');",
    'const read = (n) => { const b = Buffer.alloc(n); let o = 0; while (o < n) o += fs.readSync(3, b, o, n - o, null); return b; };',
    'const job = JSON.parse(read(read(4).readUInt32BE(0)).toString());',
    `const out = Buffer.from('{"type":"result","status":"ok","nonce":' + JSON.stringify(job.nonce) + ',"result":1}');`,
    'const head = Buffer.alloc(4); head.writeUInt32BE(out.length);',
    'fs.writeSync(4, Buffer.concat([head, out]));',
    '',
  ].join('\n'));
  const variants = [['node -e 0', bareNode], ['minimal one-shot', () => once(minimal, [], true)]];
  for (const [name, file] of RUNNERS) {
    variants.push([`${name} lazy one-shot`, () => once(file, ['--lazy-modules'], true)]);
    variants.push([`${name} eager (warm pool)`, () => once(file, [], false)]);
  }
  const rows = new Map(variants.map(([name]) => [name, []]));
  let dropped = 0;
  try {
    for (const [, run] of variants) await run(); // warm the page cache
    while (rows.get('node -e 0').length < N) {
      busySinceLast();
      // every other round in reverse order: the first process of a round tends to differ
      const round = [];
      const order = rows.get('node -e 0').length % 2 ? [...variants].reverse() : variants;
      for (const [name, run] of order) round.push([name, await run()]);
      const busy = busySinceLast();
      if (!KEEP_ALL && busy !== null && busy > MAX_BUSY) {
        dropped++;
        await new Promise((r) => setTimeout(r, 300));
        continue;
      }
      for (const [name, r] of round) rows.get(name).push(r);
    }
  } finally {
    fs.unlinkSync(minimal);
  }

  const med = (name, key) => median(rows.get(name).map((r) => r[key]));
  const bare = med('node -e 0', 'exit');
  const f = (ms) => `${ms.toFixed(1).padStart(6)} ms`;
  const vsBare = (ms) => `(bare ${ms >= bare ? '+' : '-'}${Math.abs(ms - bare).toFixed(1)})`;
  console.log(`rounds: ${N} (${dropped} dropped: machine busy)  node ${process.version}  ` +
    `NODE_EXTRA_CA_CERTS ${process.env.NODE_EXTRA_CA_CERTS ? 'SET (unset it!)' : 'unset'}`);
  for (const [name, file] of RUNNERS) console.log(`${name}: ${file}`);
  console.log(`node -e 0                     spawn -> exit    ${f(bare)}`);
  for (const [name] of variants.slice(1)) {
    const label = name.padEnd(29);
    if (name.endsWith('(warm pool)')) {
      console.log(`${label} spawn -> ready   ${f(med(name, 'ready'))}   job sent -> result ${f(med(name, 'job'))}   spawn -> exit ${f(med(name, 'exit'))}`);
    } else {
      console.log(`${label} spawn -> result  ${f(med(name, 'result'))} ${vsBare(med(name, 'result'))}   spawn -> exit ${f(med(name, 'exit'))} ${vsBare(med(name, 'exit'))}`);
    }
  }
  // Differences within each round cancel drift that outlasts a round.
  const paired = (a, b, key) => median(rows.get(a).map((r, i) => r[key] - rows.get(b)[i][key]));
  const d = (ms) => `${ms >= 0 ? '+' : '-'}${Math.abs(ms).toFixed(1)} ms`;
  console.log(`median of per-round differences: runner lazy - minimal: result ${d(paired('runner lazy one-shot', 'minimal one-shot', 'result'))}, ` +
    `exit ${d(paired('runner lazy one-shot', 'minimal one-shot', 'exit'))}`);
  if (RUNNERS.length > 1) {
    console.log(`  runner - other: lazy result ${d(paired('runner lazy one-shot', 'other lazy one-shot', 'result'))}, ` +
      `lazy exit ${d(paired('runner lazy one-shot', 'other lazy one-shot', 'exit'))}, ` +
      `eager ready ${d(paired('runner eager (warm pool)', 'other eager (warm pool)', 'ready'))}`);
  }
})().catch((e) => { console.error(e); process.exit(1); });
