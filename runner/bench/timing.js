'use strict';
// Startup / job latency of the runner, as the host sees it.
//   node bench/timing.js [N]     (run with NODE_EXTRA_CA_CERTS unset)
// Reports medians over N runs of:
//   node -e 0            spawn -> exit of a bare node
//   bare ready           spawn -> ready frame of a script that only writes it
//   runner ready         spawn -> ready frame of runner.js
//   job -> result        `return 1` sent -> result frame received
const { spawn } = require('child_process');
const path = require('path');
const os = require('os');
const fs = require('fs');

const N = Number(process.argv[2]) || 20;
const RUNNER = path.join(__dirname, '..', 'runner.js');
const now = () => Number(process.hrtime.bigint()) / 1e6;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

function frame(obj) {
  const body = Buffer.from(JSON.stringify(obj));
  const head = Buffer.alloc(4); head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

function once(script, args = []) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const child = spawn(process.execPath, ['--no-addons', ...args, script].filter(Boolean), {
      stdio: ['ignore', 'ignore', 'inherit', 'pipe', 'pipe'], cwd: os.tmpdir(), env: {},
    });
    let buf = Buffer.alloc(0); let tReady = null; let tSent = null; let tResult = null;
    child.stdio[4].on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const n = buf.readUInt32BE(0);
        const f = JSON.parse(buf.subarray(4, 4 + n)); buf = buf.subarray(4 + n);
        if (f.type === 'ready') {
          tReady = now();
          tSent = now();
          child.stdio[3].write(frame({ code: 'return 1', inputs: {}, max_result_bytes: 1 << 20, max_output_bytes: 1 << 20 }));
        } else if (f.type === 'result') {
          tResult = now();
        }
      }
    });
    child.on('error', reject);
    child.stdio[3].on('error', () => {});
    child.stdio[4].on('error', () => {});
    child.on('close', () => resolve({ ready: tReady - t0, job: tResult === null ? null : tResult - tSent, total: now() - t0 }));
  });
}

function bareNode() {
  return new Promise((resolve) => {
    const t0 = now();
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore', env: {} });
    child.on('close', () => resolve(now() - t0));
  });
}

(async () => {
  const bare = path.join(os.tmpdir(), 'nodecell-bare-ready.js');
  fs.writeFileSync(bare, "require('fs').writeSync(4, Buffer.from([0,0,0,16,...Buffer.from('{\"type\":\"ready\"}')]));\n");
  const r = { nodeE0: [], bareReady: [], ready: [], job: [], total: [] };
  for (let i = 0; i < N; i++) {
    r.nodeE0.push(await bareNode());
    r.bareReady.push((await once(bare)).ready);
    const x = await once(RUNNER);
    r.ready.push(x.ready); r.job.push(x.job); r.total.push(x.total);
  }
  fs.unlinkSync(bare);
  const f = (xs) => median(xs).toFixed(1) + ' ms';
  console.log(`runs: ${N}  node ${process.version}  NODE_EXTRA_CA_CERTS ${process.env.NODE_EXTRA_CA_CERTS ? 'SET (unset it!)' : 'unset'}`);
  console.log(`node -e 0 (spawn -> exit):      ${f(r.nodeE0)}`);
  console.log(`bare script spawn -> ready:     ${f(r.bareReady)}`);
  console.log(`runner spawn -> ready:          ${f(r.ready)}`);
  console.log(`runner job sent -> result:      ${f(r.job)}   (return 1)`);
  console.log(`runner spawn -> exit (total):   ${f(r.total)}`);
})();
