'use strict';
// The runner's files, wherever they live, with or without the V8 code cache.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { runJob, RUNNER } = require('../support/harness');

const ROOT = path.dirname(RUNNER);
const CODE = "import _ from 'lodash';\nimport dayjs from 'dayjs';\n[_.sum([1, 2]), dayjs(0).valueOf()]";

test('allowlist.json is a JSON array of strings, and every entry loads', async () => {
  const list = JSON.parse(fs.readFileSync(path.join(ROOT, 'allowlist.json'), 'utf8'));
  assert.ok(Array.isArray(list) && list.length > 0);
  for (const name of list) assert.equal(typeof name, 'string');
  const code = `return ${JSON.stringify(list)}.map((n) => typeof require(n))`;
  const r = await runJob(code);
  assert.equal(r.result.status, 'ok', JSON.stringify(r.result));
  for (const t of r.result.result) assert.ok(t === 'object' || t === 'function', t);
});

test('the runner loads npm packages from the files require() would pick', async () => {
  // lodash is loaded from its minified build on purpose: same version.
  const r = await runJob([
    "const _ = require('lodash'), dayjs = require('dayjs'), uuid = require('uuid');",
    'return [_.VERSION, Object.keys(_).length, typeof dayjs.extend, Object.keys(uuid).sort()]',
  ].join('\n'));
  const _ = require(path.join(ROOT, 'node_modules', 'lodash'));
  const uuid = require(path.join(ROOT, 'node_modules', 'uuid'));
  assert.deepEqual(r.result.result, [_.VERSION, Object.keys(_).length, 'function', Object.keys(uuid).sort()]);
  const resolve = (id) => require.resolve(id, { paths: [ROOT] });
  assert.equal(resolve('dayjs'), path.join(ROOT, 'node_modules/dayjs/dayjs.min.js'));
  assert.equal(resolve('uuid'), path.join(ROOT, 'node_modules/uuid/dist/cjs/index.js'));
  assert.equal(resolve('acorn'), path.join(ROOT, 'node_modules/acorn/dist/acorn.js'));
});

test('runs from a copy in another directory (paths come from __dirname)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodecell-runner-'));
  try {
    for (const f of ['runner.js', 'allowlist.json', 'package.json']) fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
    fs.cpSync(path.join(ROOT, 'lib'), path.join(dir, 'lib'), { recursive: true });
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
    // with a truncated code cache (must be ignored, not crash)
    const cacheDir = path.join(ROOT, '.v8cache');
    if (fs.existsSync(cacheDir)) {
      fs.mkdirSync(path.join(dir, '.v8cache'));
      for (const f of fs.readdirSync(cacheDir)) {
        const data = fs.readFileSync(path.join(cacheDir, f));
        fs.writeFileSync(path.join(dir, '.v8cache', f), data.subarray(0, data.length >> 1));
      }
    }
    const r = await runJob(CODE, { runner: path.join(dir, 'runner.js') });
    assert.deepEqual(r.result, { type: 'result', status: 'ok', result: [3, 0] });
    const e = await runJob('null.x', { runner: path.join(dir, 'runner.js') });
    assert.equal(e.result.error.stack, "TypeError: Cannot read properties of null (reading 'x')\n    at user.js:1:6");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('works without a usable code cache (other V8 flags)', async () => {
  const r = await runJob(CODE, { nodeArgs: ['--no-addons', '--stack-size=900'] });
  assert.deepEqual(r.result, { type: 'result', status: 'ok', result: [3, 0] });
});

test('the code cache (built by postinstall and pretest) is current and accepted by V8', (t) => {
  const probe = [
    `const cache = require(${JSON.stringify(path.join(ROOT, 'lib/cache.js'))});`,
    'const file = cache.cacheFile();',
    'if (!require("fs").existsSync(file)) { console.log("none"); process.exit(0); }',
    'cache.install();',
    `require(${JSON.stringify(path.join(ROOT, 'lib/main.js'))});`,
    'console.log(JSON.stringify(cache.stats));',
  ];
  const stdout = runProbe(probe);
  if (stdout.trim() === 'none') {
    t.skip('no .v8cache for these flags (npm ci --ignore-scripts?)');
    return;
  }
  const stats = JSON.parse(stdout);
  assert.ok(stats.hits > 20, stdout);
  assert.equal(stats.rejected, 0, stdout);
  assert.equal(stats.misses, 0, `stale cache, rebuild with \`npm run build-cache\`: ${stdout}`);
});

// Runs the probe `lines` in a fresh node with the runner's flags, from a file (not -e:
// execArgv is part of the caches' key); returns its stdout.
function runProbe(lines) {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nodecell-probe-')), 'probe.js');
  fs.writeFileSync(file, lines.join('\n'));
  const out = spawnSync(process.execPath, ['--no-addons', file], { env: {}, encoding: 'utf8' });
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  assert.equal(out.status, 0, out.stderr);
  return out.stdout;
}

// Loads lib/main.js through runner.js's module table in a fresh node and reports what it
// compiled (as a lazy start if `lazy`).
function probeTable(runner, lazy = false) {
  const probe = [
    lazy ? "process.argv.push('--lazy-modules');" : '',
    "const vm = require('vm');",
    'const seen = [];',
    'const Script = vm.Script;',
    'vm.Script = class extends Script {',
    '  constructor(source, options) { super(source, options); seen.push([options.filename, this.cachedDataRejected]); }',
    '};',
    `const runner = require(${JSON.stringify(runner)});`,
    "const exists = require('fs').existsSync(runner.cacheFile('table'));",
    'const main = runner.mainFromTable();',
    'console.log(JSON.stringify({ exists, loaded: main !== null, seen }));',
  ];
  return JSON.parse(runProbe(probe));
}

test('the module table of a lazy start (built by postinstall and pretest) is current and accepted by V8', (t) => {
  const r = probeTable(RUNNER);
  if (!r.exists) {
    t.skip('no module table for these flags (npm ci --ignore-scripts?)');
    return;
  }
  assert.ok(r.loaded, `stale module table, rebuild with \`npm run build-cache\`: ${JSON.stringify(r)}`);
  const compiled = r.seen.map(([file]) => path.relative(ROOT, file)).sort();
  const lib = fs.readdirSync(path.join(ROOT, 'lib')).filter((f) => f !== 'cache.js' && f !== 'node-lines.js').map((f) => `lib/${f}`);
  assert.deepEqual(compiled, [...lib, 'node_modules/acorn/dist/acorn.js'].sort());
  for (const [file, rejected] of r.seen) assert.equal(rejected, false, `${file}: code cache rejected`);
});

test('a lazy start loads acorn only for code without a top-level return', (t) => {
  const r = probeTable(RUNNER, true);
  if (!r.exists) {
    t.skip('no module table for these flags (npm ci --ignore-scripts?)');
    return;
  }
  assert.ok(r.loaded, JSON.stringify(r));
  assert.ok(!r.seen.some(([file]) => file.includes('acorn')), JSON.stringify(r.seen));
  const acornLoaded = 'Object.keys(require.cache).some((f) => f.includes("acorn"))';
  const out = JSON.parse(runProbe([
    `const { transform } = require(${JSON.stringify(path.join(ROOT, 'lib', 'transform.js'))});`,
    "const quick = transform('const x = 1;\\nreturn x + 1');",
    `const before = ${acornLoaded};`,
    "const full = transform('const x = 1;\\nx + 1');",
    `console.log(JSON.stringify({ quick: quick.script !== undefined, before, full: full.script !== undefined, after: ${acornLoaded} }));`,
  ]));
  assert.deepEqual(out, { quick: true, before: false, full: false, after: true });
});

test('a lazy start does not use a module table made from files that changed since', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodecell-runner-'));
  try {
    for (const f of ['runner.js', 'build-cache.js', 'allowlist.json', 'package.json']) fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
    fs.cpSync(path.join(ROOT, 'lib'), path.join(dir, 'lib'), { recursive: true });
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
    const build = spawnSync(process.execPath, ['--no-addons', 'build-cache.js'], { cwd: dir, env: {}, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
    assert.equal(probeTable(path.join(dir, 'runner.js')).loaded, true);
    // An edit that keeps the file's size (V8 itself only checks the source's length).
    const main = path.join(dir, 'lib', 'main.js');
    const text = fs.readFileSync(main, 'utf8');
    assert.ok(text.includes('is not allowed (allowed'));
    fs.writeFileSync(main, text.replace('is not allowed (allowed', 'is NOT allowed (allowed'));
    assert.equal(probeTable(path.join(dir, 'runner.js')).loaded, false);
    const r = await runJob("require('fs')", { runner: path.join(dir, 'runner.js'), runnerArgs: ['--lazy-modules'] });
    assert.match(r.result.error.message, /^Module "fs" is NOT allowed/);
    // A table with its acorn part gone: acorn comes through require().
    const rebuild = spawnSync(process.execPath, ['--no-addons', 'build-cache.js'], { cwd: dir, env: {}, encoding: 'utf8' });
    assert.equal(rebuild.status, 0, rebuild.stderr);
    const parts = fs.readdirSync(path.join(dir, '.v8cache')).filter((f) => f.endsWith('.acorn.table'));
    assert.equal(parts.length, 1, JSON.stringify(parts));
    fs.unlinkSync(path.join(dir, '.v8cache', parts[0]));
    const p = probeTable(path.join(dir, 'runner.js'));
    assert.equal(p.loaded, true);
    assert.ok(!p.seen.some(([file]) => file.includes('acorn')), JSON.stringify(p.seen));
    const last = await runJob('const x = 20;\nx + 22', { runner: path.join(dir, 'runner.js'), runnerArgs: ['--lazy-modules'] });
    assert.equal(last.result.result, 42);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
