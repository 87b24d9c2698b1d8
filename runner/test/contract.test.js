'use strict';
// The code contract: result of return / last expression, await, inputs,
// imports and require.
const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const { runJob } = require('../support/harness');

async function ok(code, inputs) {
  const r = await runJob({ code, inputs: inputs || {} });
  assert.equal(r.results.length, 1, JSON.stringify(r.frames));
  assert.equal(r.result.status, 'ok', JSON.stringify(r.result));
  assert.equal(r.exit.code, 0);
  return r.result.result;
}

async function err(code, inputs) {
  const r = await runJob({ code, inputs: inputs || {} });
  assert.equal(r.results.length, 1, JSON.stringify(r.frames));
  assert.equal(r.result.status, 'error', JSON.stringify(r.result));
  return r.result.error;
}

describe('result of the code', { concurrency: 4 }, () => {
  test('top-level return', async () => assert.equal(await ok('return 1'), 1));
  test('last expression statement', async () => assert.equal(await ok('const x = 20;\nx + 22'), 42));
  test('last expression giving a string', async () => {
    assert.equal(await ok('JSON.stringify(trigger.data)', { trigger: { data: { a: 1 } } }), '{"a":1}');
  });
  test('declarations after the last expression still run', async () => {
    assert.deepEqual(await ok('const a = [];\na.push(1);\na\nconst b = a.push(2);\nfunction f() {}'), [1, 2]);
  });
  test('statements after the last expression can change the captured object', async () => {
    assert.deepEqual(await ok('const o = {};\no\nconst y = (o.x = 1);'), { x: 1 });
  });
  test('no expression statement -> null', async () => assert.equal(await ok('const x = 1;'), null));
  test('empty code -> null', async () => assert.equal(await ok(''), null));
  test('"return" inside a string or comment is not a return', async () => {
    assert.equal(await ok('const s = "return 5"; // return 6\n/* return 7 */ s.length'), 8);
  });
  test('return inside nested functions is not top-level', async () => {
    assert.equal(await ok('function f() { return 1 }\nconst g = () => { return 2 };\nclass C { m() { return 3 } }\nf() + g() + new C().m()'), 6);
  });
  test('top-level return inside if/for/try blocks counts', async () => {
    assert.equal(await ok('for (const i of [1, 2, 3]) { if (i === 2) { try { return i * 10 } finally {} } }\n99'), 20);
  });
  test('a top-level return that is not reached gives null (no last-expression fallback)', async () => {
    assert.equal(await ok('if (false) return 1;\n5'), null);
  });
  test('sequence expression as the last expression', async () => assert.equal(await ok('1, 2, 3'), 3));
  test('object literal in parentheses as the last expression', async () => {
    assert.deepEqual(await ok('({ a: 1 })'), { a: 1 });
  });
  test('last expression that is a promise is awaited', async () => {
    assert.equal(await ok('new Promise((r) => setTimeout(() => r(7), 5))'), 7);
  });
  test('returned promise is awaited', async () => assert.equal(await ok('return Promise.resolve(8)'), 8));
  test('"use strict" directive is honoured', async () => {
    const e = await err('"use strict";\nundeclared = 1');
    assert.equal(e.name, 'ReferenceError');
    assert.equal(e.line, 2);
  });
  test('code is sloppy by default', async () => assert.equal(await ok('undeclared2 = 3; undeclared2'), 3));
  test('hashbang line is accepted', async () => assert.equal(await ok('#!/usr/bin/env node\nreturn 4'), 4));
  // Code with a top-level return is checked by V8 alone (transform.js, quickTransform);
  // these hold its edges to the behaviour of the full parse.
  test('code that closes the wrapper function is a syntax error and does not run', async () => {
    const e = await err('globalThis.ran = 1; return 1 }; })\n;(function () { return async function () {');
    assert.equal(e.name, 'SyntaxError');
    assert.equal(e.line, 1);
  });
  test('a return in a class static block is a syntax error', async () => {
    const e = await err('class A { static { return 1 } }\nreturn 2');
    assert.equal(e.name, 'SyntaxError');
    assert.equal(e.line, 1);
  });
  test('a syntax error after a top-level return is reported at its position', async () => {
    const e = await err('return 1;\nlet x = ;');
    assert.equal(e.name, 'SyntaxError');
    assert.deepEqual([e.line, e.column], [2, 9]);
  });
  test('await, arguments and sloppy-only syntax before a top-level return', async () => {
    assert.deepEqual(await ok('const a = await Promise.resolve(1);\nconst b = typeof arguments;\nconst c = 010;\nwith ({ d: 4 }) { return [a, b, c, d] }'),
      [1, 'object', 8, 4]);
  });
  test('"use strict" directive with a top-level return', async () => {
    assert.deepEqual(await ok('"use strict";\nreturn [(function () { return this })(), typeof arguments]'), [null, 'object']);
    const e = await err('"use strict";\nundeclared3 = 1;\nreturn 1');
    assert.deepEqual([e.name, e.line, e.column], ['ReferenceError', 2, 13]); // (V8 points at the =)
  });
});

describe('top-level await and timers', { concurrency: 4 }, () => {
  test('top-level await', async () => {
    assert.equal(await ok('const v = await new Promise((r) => setTimeout(() => r(5), 10));\nreturn v * 2'), 10);
  });
  test('for await', async () => {
    assert.equal(await ok('let s = 0;\nfor await (const x of [Promise.resolve(1), 2]) s += x;\ns'), 3);
  });
  test('timers/promises', async () => {
    assert.equal(await ok('import { setTimeout as sleep } from "timers/promises";\nawait sleep(5);\nreturn "slept"'), 'slept');
  });
  test('setImmediate, queueMicrotask, process.nextTick', async () => {
    assert.deepEqual(await ok([
      'const order = [];',
      'await new Promise((r) => { setImmediate(() => { order.push("i"); r(); }); queueMicrotask(() => order.push("m")); process.nextTick(() => order.push("t")); });',
      'order',
    ].join('\n')), ['t', 'm', 'i']);
  });
});

describe('inputs', { concurrency: 4 }, () => {
  const inputs = {
    trigger: { data: { value: 41 } },
    apContext: { configVars: { k: 'v' } },
    'not-an-identifier': 1,
    '1abc': 2,
    class: 3,
    'ünïcödé': 4,
    $_x9: 5,
    '\u{1d465}\u200d': 9, // an astral ID_Start letter, then ZWJ
    '\u200dx': 10, // ZWJ may not start a name
    '€': 11,
    undefined: 6,
    NaN: 7,
    globalThis: 8,
  };
  test('identifier keys become globals', async () => {
    assert.deepEqual(await ok('[trigger.data.value + 1, apContext.configVars.k, ünïcödé, $_x9, \u{1d465}\u200d]', inputs), [42, 'v', 4, 5, 9]);
  });
  test('every key is on `inputs`, non-identifiers only there', async () => {
    assert.deepEqual(await ok('[inputs["not-an-identifier"], inputs["1abc"], inputs.class, typeof globalThis["not-an-identifier"], globalThis.class]', inputs),
      [1, 2, 3, 'undefined', null]);
    assert.deepEqual(await ok('[inputs["\u200dx"], inputs["€"], "\u200dx" in globalThis, "€" in globalThis]', inputs), [10, 11, false, false]);
  });
  test('non-configurable globals and globalThis are not replaced', async () => {
    assert.deepEqual(await ok('[typeof undefined, Number.isNaN(NaN), typeof globalThis, inputs.undefined, inputs.NaN, inputs.globalThis]', inputs),
      ['undefined', true, 'object', 6, 7, 8]);
  });
  test('input globals are writable and configurable', async () => {
    assert.equal(await ok('trigger = 5; delete globalThis.apContext; [trigger, typeof apContext].join()', inputs), '5,undefined');
  });
  test('inputs defaults to an empty object', async () => {
    assert.deepEqual(await ok('inputs'), {});
  });
});

describe('modules', { concurrency: 4 }, () => {
  test('default import of lodash', async () => {
    assert.deepEqual(await ok("import _ from 'lodash'\n_.chunk([1, 2, 3], 2)"), [[1, 2], [3]]);
  });
  test('named imports', async () => {
    assert.deepEqual(await ok("import { map, pick } from 'lodash';\n[map([1, 2], (x) => x * 2), pick({ a: 1, b: 2 }, ['a'])]"), [[2, 4], { a: 1 }]);
  });
  test('renamed import from uuid', async () => {
    const v = await ok("import { v4 as uuidv4, validate } from 'uuid';\nconst id = uuidv4();\n[id, validate(id)]");
    assert.match(v[0], /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(v[1], true);
  });
  test('default import of dayjs', async () => {
    assert.equal(await ok("import dayjs from 'dayjs'\ndayjs('2020-01-02T03:04:05Z').add(1, 'day').toISOString()"), '2020-01-03T03:04:05.000Z');
  });
  test('namespace import', async () => {
    assert.deepEqual(await ok("import * as x from 'lodash';\n[typeof x.map, x.default === require('lodash'), Object.prototype.toString.call(x)]"),
      ['function', true, '[object Module]']);
  });
  test('default + named, side-effect import, string-named import, import after code', async () => {
    assert.deepEqual(await ok([
      "const before = typeof sum;",
      "import _, { sum } from 'lodash';",
      "import 'dayjs';",
      "import { 'v4' as four } from 'uuid';",
      "[before, sum([1, 2]), _.sum([3]), typeof four]",
    ].join('\n')), ['function', 3, 3, 'function']);
  });
  test('import bindings are constant', async () => {
    const e = await err("import _ from 'lodash';\n_ = 1");
    assert.equal(e.name, 'TypeError');
    assert.equal(e.line, 2);
  });
  test('require of lodash, dayjs, uuid and built-ins, with and without node:', async () => {
    assert.deepEqual(await ok([
      "const _ = require('lodash'), dayjs = require('dayjs'), { v4 } = require('uuid');",
      "const crypto = require('node:crypto');",
      "[_.VERSION.length > 0, typeof dayjs().year(), typeof v4(), require('util') === require('node:util'),",
      " require('path').join('a', 'b'), crypto.createHash('sha256').update('x').digest('hex').length,",
      " require('querystring').stringify({ a: 1 }), typeof require('events'), typeof require('assert').equal,",
      " typeof require('buffer').Buffer, typeof require('string_decoder').StringDecoder, typeof require('url').URL,",
      " typeof require('timers').setTimeout, typeof require('timers/promises').setTimeout, typeof require('assert/strict')]",
    ].join('\n')), [true, 'number', 'string', true, 'a/b', 64, 'a=1', 'function', 'function', 'function', 'function', 'function', 'function', 'function', 'function']);
  });
  test('import via node: prefix', async () => {
    assert.equal(await ok("import { join } from 'node:path';\njoin('x', 'y')"), 'x/y');
  });
  for (const name of ['fs', 'node:fs', 'child_process', './local', '../runner', '/etc/passwd', 'lodash/fp', 'node:lodash', 'net', 'module']) {
    test(`require(${JSON.stringify(name)}) is refused, naming the module`, async () => {
      const e = await err(`const x = 1;\n  require(${JSON.stringify(name)})`);
      assert.equal(e.name, 'Error');
      assert.ok(e.message.startsWith(`Module ${JSON.stringify(name)} is not allowed (allowed: `), e.message);
      assert.ok(e.message.includes('lodash'));
      assert.equal(e.line, 2);
      assert.equal(e.column, 3);
    });
  }
  test('import of a refused module fails before any code runs, at its position', async () => {
    const r = await runJob("console.log('ran');\nimport fs from 'fs';");
    assert.deepEqual(r.logs, []);
    assert.equal(r.result.error.name, 'Error');
    assert.match(r.result.error.message, /^Module "fs" is not allowed/);
    assert.equal(r.result.error.line, 2);
    assert.equal(r.result.error.column, 16);
  });
  test('import of a missing named export is a SyntaxError', async () => {
    const e = await err("import { nope } from 'lodash'");
    assert.equal(e.name, 'SyntaxError');
    assert.match(e.message, /does not provide an export named 'nope'/);
  });
  test('export is a SyntaxError', async () => {
    const e = await err('const a = 1;\nexport { a }');
    assert.equal(e.name, 'SyntaxError');
    assert.equal(e.line, 2);
    assert.equal(e.column, 1);
  });
  test('dynamic import() cannot load anything', async () => {
    const e = await err("await import('fs')");
    assert.equal(e.name, 'TypeError');
  });
  test('the allowlist is convenience: built-ins stay reachable, no pretence otherwise', async () => {
    // The sandbox is the boundary (tests/hostile proves it holds with these in reach).
    assert.deepEqual(await ok('[typeof process.getBuiltinModule, typeof process.binding, typeof module, typeof globalThis.require]'),
      ['function', 'function', 'undefined', 'undefined']);
  });
});

describe('lazy module loading (--lazy-modules)', () => {
  const lazy = { runnerArgs: ['--lazy-modules'] };
  test('imports and requires load on first use and behave the same', async () => {
    const r = await runJob({
      code: "import _ from 'lodash';\nimport { v4 } from 'uuid';\nconst dayjs = require('node:util') && require('dayjs');\n" +
        "[_.sum([1, 2, 3]), v4().length, dayjs('2024-01-02T00:00:00Z').toISOString(), require('lodash') === _, require('node:crypto') === require('crypto')]",
    }, lazy);
    assert.equal(r.result.status, 'ok', JSON.stringify(r.result));
    assert.deepEqual(r.result.result, [6, 36, '2024-01-02T00:00:00.000Z', true, true]);
  });
  test('a module that is not allowed is still refused', async () => {
    const r = await runJob({ code: "require('fs')" }, lazy);
    assert.equal(r.result.status, 'error');
    assert.match(r.result.error.message, /Module "fs" is not allowed/);
  });
});
