'use strict';
// console.* -> log frames; formatting identical to util.format.
const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const util = require('node:util');
const { runJob } = require('../support/harness');

describe('console', { concurrency: 4 }, () => {
  test('levels', async () => {
    const r = await runJob('console.log("a"); console.info("b"); console.warn("c"); console.error("d"); console.debug("e"); console.dir({ f: 1 }); return 0');
    assert.deepEqual(r.logs, [
      { type: 'log', level: 'log', message: 'a' },
      { type: 'log', level: 'info', message: 'b' },
      { type: 'log', level: 'warn', message: 'c' },
      { type: 'log', level: 'error', message: 'd' },
      { type: 'log', level: 'debug', message: 'e' },
      { type: 'log', level: 'log', message: '{ f: 1 }' },
    ]);
    assert.equal(r.stdout + r.stderr, '');
  });

  test('formatting is util.format(...args)', async () => {
    // Argument lists as source text: evaluated by the runner and locally.
    const cases = [
      '"%s is %d years", "Bob", 42',
      '"%o", { a: [1, { b: 2 }] }',
      '"%O %j %i %f %%", { a: 1 }, { b: 2 }, 3.7, "1.5"',
      '{ nested: { deep: { deeper: { deepest: 1 } } }, arr: [1, 2, 3] }',
      '"multi", "args", 1, true, null, undefined, [1, "x"], 10n, Symbol("s")',
      '"line1\\nline2"',
      '',
      '"%s", "no extra", "extra"',
      'new Map([[1, { a: 1 }]]), new Set(["x"]), new Date(0), /re/g, () => 1, class A {}',
      '"%c styled", "color: red"',
    ];
    const r = await runJob(cases.map((c) => `console.log(${c});`).join('\n') + '\nreturn 0');
    // eslint-disable-next-line no-eval
    const expected = cases.map((c) => util.format(...(0, eval)(`[${c}]`)));
    assert.deepEqual(r.logs.map((l) => l.message), expected);
  });

  test('errors are formatted with their stack', async () => {
    const r = await runJob('const e = new Error("boom");\nconsole.error(e); return 0');
    assert.equal(r.logs[0].level, 'error');
    assert.match(r.logs[0].message, /^Error: boom\n    at user\.js:1:11/);
  });

  test('console.trace -> debug, with user frames only', async () => {
    const r = await runJob('function f() {\n  console.trace("here %d", 1);\n}\nf();\nreturn 0');
    assert.equal(r.logs[0].level, 'debug');
    assert.equal(r.logs[0].message, 'Trace: here 1\n    at f (user.js:2:11)\n    at user.js:4:1');
  });

  test('assert, count, time, group, table', async () => {
    const r = await runJob([
      'console.assert(true, "not shown");',
      'console.assert(false, "shown %s", "x");',
      'console.count(); console.count("k"); console.count();',
      'console.group("G"); console.log("inside"); console.groupEnd(); console.log("outside");',
      'console.table([{ a: 1 }]);',
      'console.time("t"); console.timeEnd("t");',
      'return 0',
    ].join('\n'));
    const m = r.logs.map((l) => [l.level, l.message]);
    assert.deepEqual(m.slice(0, 7), [
      ['error', 'Assertion failed: shown x'],
      ['log', 'default: 1'], ['log', 'k: 1'], ['log', 'default: 2'],
      ['log', 'G'], ['log', '  inside'], ['log', 'outside'],
    ]);
    assert.equal(m[7][0], 'log');
    assert.match(m[7][1], /│ \(index\) │ a │/);
    assert.match(m[8][1], /^t: \d+(\.\d+)?m?s$/);
  });

  test('hostile values give an unformattable message, not a crash', async () => {
    const r = await runJob([
      'console.log({ [Symbol.for("nodejs.util.inspect.custom")]() { throw new TypeError("no inspect") } });',
      'console.log("%s", { toString() { throw new RangeError("no toString") } , [Symbol.for("nodejs.util.inspect.custom")]: undefined });',
      'console.warn(new Proxy({}, { get() { throw new Error("trap") } }));',
      'console.log(Object.create(null, { x: { get() { throw 1 }, enumerable: true } }));',
      'return "survived"',
    ].join('\n'));
    assert.equal(r.result.result, 'survived');
    assert.deepEqual(r.logs[0], { type: 'log', level: 'log', message: '[unformattable log message: TypeError: no inspect]' });
    assert.equal(r.logs.length, 4);
    for (const l of r.logs) assert.equal(typeof l.message, 'string');
  });

  test('a single message is truncated to max_output_bytes + 1 UTF-16 units', async () => {
    const r = await runJob({ code: 'console.log("x".repeat(1000)); console.log("y"); return 0', max_output_bytes: 100 });
    assert.equal(r.logs[0].message, 'x'.repeat(101));
    assert.equal(r.logs[1].message, 'y');
  });

  test('log messages with lone surrogates and control characters stay valid JSON', async () => {
    const r = await runJob('console.log("a\\ud800b\\u0000\\u001f\\u2028\\"\\\\"); return 0');
    // A lone surrogate has no UTF-8 form: it arrives as U+FFFD.
    assert.equal(r.logs[0].message, 'a\ufffdb\u0000\u001f\u2028"\\');
  });

  test('replacing console or its methods only affects user code', async () => {
    const r = await runJob('const log = console.log; console.log = null; log("still"); globalThis.console = 5; return 1');
    assert.deepEqual(r.logs, [{ type: 'log', level: 'log', message: 'still' }]);
    assert.equal(r.result.result, 1);
  });

  test('process.stdout/stderr writes go to fds 1/2, not to log frames', async () => {
    const r = await runJob('process.stdout.write("out1\\n"); console.log("log"); process.stderr.write("err1"); return 0');
    assert.equal(r.stdout, 'out1\n');
    assert.equal(r.stderr, 'err1');
    assert.deepEqual(r.logs.map((l) => l.message), ['log']);
  });
});
