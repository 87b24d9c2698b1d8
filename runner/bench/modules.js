'use strict';
// What pre-loading costs: median require() time of each startup module, in
// fresh processes, without and with the V8 code cache (.v8cache, built by
// `npm run build-cache`).   node bench/modules.js [N]   (NODE_EXTRA_CA_CERTS unset)
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const N = Number(process.argv[2]) || 15;
const ROOT = path.join(__dirname, '..');
const nm = (p) => path.join(ROOT, 'node_modules', p);

// Runs in the child (a file, not -e: execArgv is part of the cache key).
const CHILD = `
const h = () => performance.now();
const cache = require(${JSON.stringify(path.join(ROOT, 'lib/cache.js'))});
if (process.argv[2] === 'cache') cache.install();
const out = {};
const load = (label, id) => { const t = h(); require(id); out[label] = h() - t; };
load('acorn', ${JSON.stringify(nm('acorn/dist/acorn.js'))});
load('lodash (lodash.min.js)', ${JSON.stringify(nm('lodash/lodash.min.js'))});
load('dayjs', ${JSON.stringify(nm('dayjs/dayjs.min.js'))});
load('uuid (crypto preloaded by lib/cache)', ${JSON.stringify(nm('uuid/dist/cjs/index.js'))});
load('runner lib + built-ins', ${JSON.stringify(path.join(ROOT, 'lib/main.js'))});
out.total = Object.values(out).reduce((a, b) => a + b, 0);
out['code cache hits/rejected/misses'] = [cache.stats.hits, cache.stats.rejected, cache.stats.misses].join('/');
process.stdout.write(JSON.stringify(out));
`;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodecell-bench-'));
const file = path.join(dir, 'child.js');
fs.writeFileSync(file, CHILD);

function run(mode) {
  const rows = [];
  for (let i = 0; i < N; i++) {
    const r = spawnSync(process.execPath, ['--no-addons', file, mode], { env: {}, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    rows.push(JSON.parse(r.stdout));
  }
  const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
  const res = {};
  for (const k of Object.keys(rows[0])) {
    res[k] = typeof rows[0][k] === 'number' ? med(rows.map((x) => x[k])).toFixed(1) + ' ms' : rows[N - 1][k];
  }
  return res;
}

try {
  const without = run('nocache');
  const withCache = run('cache');
  console.log(`runs: ${N} per column, node ${process.version}`);
  console.log(`${''.padEnd(40)} ${'no cache'.padStart(10)}  ${'cache'.padStart(10)}`);
  for (const k of Object.keys(without)) {
    console.log(`${k.padEnd(40)} ${String(without[k]).padStart(10)}  ${String(withCache[k]).padStart(10)}`);
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
