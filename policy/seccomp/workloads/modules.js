// Require a lodash-sized amount of JS: one ~600 KB module plus 150 small CommonJS
// modules, a JSON file and an ESM module via dynamic import(). Run with --no-addons.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const assert = require('assert');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-mod-'));
try {
  const pkg = path.join(dir, 'node_modules', 'biglib');
  fs.mkdirSync(pkg, { recursive: true });
  fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'biglib', main: 'lib.js' }));
  let big = "'use strict';\n";
  for (let i = 0; i < 6000; i++) {
    big += `exports.f${i} = function f${i}(a, b) { const o = { k: ${i}, a, b }; return (o.a | 0) + (o.b | 0) + o.k; };\n`;
  }
  fs.writeFileSync(path.join(pkg, 'lib.js'), big);
  for (let i = 0; i < 150; i++) {
    const next = i + 1 < 150 ? `require('./m${i + 1}.js')` : '0';
    fs.writeFileSync(path.join(dir, `m${i}.js`), `module.exports = ${i} + ${next};\n`);
  }
  fs.writeFileSync(path.join(dir, 'data.json'), JSON.stringify({ items: Array.from({ length: 1000 }, (_, i) => i) }));
  fs.writeFileSync(path.join(dir, 'esm.mjs'), 'export const answer = 42;\nexport default function twice(x) { return 2 * x; }\n');
  fs.writeFileSync(path.join(dir, 'main.js'),
    "const lib = require('biglib');\n" +
    "module.exports = { sum: require('./m0.js'), f: lib.f5999(1, 2), n: Object.keys(lib).length, json: require('./data.json').items.length };\n");

  const r = require(path.join(dir, 'main.js'));
  assert.deepStrictEqual(r, { sum: 11175, f: 6002, n: 6000, json: 1000 });
  console.log(`ok modules: cjs sum=${r.sum} f=${r.f} exports=${r.n} json=${r.json} bytes=${big.length}`);
  // builtins a user step commonly pulls in
  for (const m of ['util', 'events', 'stream', 'string_decoder', 'url', 'querystring', 'buffer', 'readline', 'http', 'https', 'net', 'vm', 'v8', 'perf_hooks', 'async_hooks', 'diagnostics_channel', 'node:test']) require(m);
  console.log('ok modules: builtins loaded');
  import(path.join(dir, 'esm.mjs')).then((m) => {
    assert.strictEqual(m.answer, 42);
    assert.strictEqual(m.default(21), 42);
    console.log('ok modules: esm import answer=' + m.answer);
    const vm = require('vm');
    assert.strictEqual(vm.runInNewContext('a + b', { a: 2, b: 3 }), 5);
    console.log('ok modules: vm context');
    fs.rmSync(dir, { recursive: true, force: true });
    console.log('DONE modules');
  }).catch((e) => { console.error(e); process.exitCode = 1; });
} catch (e) {
  fs.rmSync(dir, { recursive: true, force: true });
  throw e;
}
