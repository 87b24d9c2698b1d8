'use strict';
// Error outcomes: name/message/stack read defensively, positions in the
// user's code as written.
const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const { runJob } = require('../support/harness');

async function error(code, job = {}) {
  const r = await runJob({ code, ...job });
  assert.equal(r.results.length, 1, JSON.stringify(r.frames));
  assert.equal(r.result.status, 'error', JSON.stringify(r.result));
  assert.equal(r.exit.code, 0);
  const e = r.result.error;
  assert.deepEqual(Object.keys(e), ['name', 'message', 'stack', 'line', 'column']);
  return e;
}

describe('positions', { concurrency: 4 }, () => {
  test('runtime error on line 3 column 5', async () => {
    const e = await error('const a = 1;\nconst b = 2;\n    undefinedFunction();\nconst c = 3;');
    assert.equal(e.name, 'ReferenceError');
    assert.equal(e.message, 'undefinedFunction is not defined');
    assert.equal(e.line, 3);
    assert.equal(e.column, 5);
    assert.equal(e.stack, 'ReferenceError: undefinedFunction is not defined\n    at user.js:3:5');
  });

  test('same error when the last-expression rewrite touches that line', async () => {
    const e = await error('const a = 1;\nconst b = 2;\n    undefinedFunction()');
    assert.equal(e.line, 3);
    assert.equal(e.column, 5);
    assert.equal(e.stack, 'ReferenceError: undefinedFunction is not defined\n    at user.js:3:5');
  });

  test('columns after the inserted text on the same line are corrected', async () => {
    // last expression starts at column 13; the failing call is at column 26
    const e = await error('let x = 1;\n  x = 2; [1, x, null.boom]');
    assert.equal(e.name, 'TypeError');
    assert.equal(e.line, 2);
    assert.equal(e.column, 22);
    assert.match(e.stack, /\n    at user\.js:2:22$/);
  });

  test('multi-line last expression: error on its last line after the closing insertion', async () => {
    const e = await error('const f = (v) => v;\nf(1,\n  2) + null.y');
    assert.equal(e.line, 3);
    assert.equal(e.column, 13);
  });

  test('positions in nested functions, stack lists user frames only', async () => {
    const e = await error('function inner() {\n  throw new TypeError("deep");\n}\nfunction outer() { inner(); }\nouter();');
    assert.equal(e.name, 'TypeError');
    assert.equal(e.line, 2);
    assert.equal(e.column, 9);
    assert.equal(e.stack, 'TypeError: deep\n    at inner (user.js:2:9)\n    at outer (user.js:4:20)\n    at user.js:5:1');
  });

  test('error after await', async () => {
    const e = await error('await null;\nnull.x');
    assert.equal(e.line, 2);
    assert.equal(e.column, 6); // V8 points at the property name
  });

  test('error in a timer callback (uncaught exception)', async () => {
    const e = await error('setTimeout(() => {\n  null.q;\n}, 1);\nawait new Promise((r) => setTimeout(r, 1000));');
    assert.equal(e.name, 'TypeError');
    assert.equal(e.line, 2);
    assert.equal(e.column, 8);
  });

  test('unhandled rejection of another promise', async () => {
    const e = await error('Promise.reject(new RangeError("unhandled"));\nawait new Promise((r) => setTimeout(r, 1000));');
    assert.equal(e.name, 'RangeError');
    assert.equal(e.line, 1);
  });

  test('position with CRLF and U+2028 line breaks, tabs and astral chars', async () => {
    // V8 points at the property name: z is at column 7 of line 3
    const e = await error('const a = "🙂";\r\nconst b = 1;\u2028\tnull.z');
    assert.equal(e.line, 3);
    assert.equal(e.column, 7);
  });

  test('errors thrown by allowlisted modules point at the calling user line', async () => {
    const e = await error("import dayjs from 'dayjs';\nconst x = 1;\n  dayjs.extend(null)");
    assert.equal(e.line, 3);
    assert.equal(e.column, 9);
  });
});

describe('syntax errors', { concurrency: 4 }, () => {
  test('parser position, message without the (l:c) suffix', async () => {
    const e = await error('const a = 1;\nconst b = 2;\nfoo bar;');
    assert.equal(e.name, 'SyntaxError');
    assert.equal(e.message, 'Unexpected token');
    assert.equal(e.line, 3);
    assert.equal(e.column, 5);
    assert.equal(e.stack, 'user.js:3\nfoo bar;\n    ^\n\nSyntaxError: Unexpected token');
  });

  test('unterminated string', async () => {
    const e = await error('x = 1;\n  "abc');
    assert.equal(e.name, 'SyntaxError');
    assert.equal(e.message, 'Unterminated string constant');
    assert.equal(e.line, 2);
    assert.equal(e.column, 3);
  });

  test('syntax error in code with imports (module parse)', async () => {
    const e = await error("import _ from 'lodash';\nconst = 1;");
    assert.equal(e.name, 'SyntaxError');
    assert.equal(e.line, 2);
    assert.equal(e.column, 7);
  });

  test('early errors only V8 reports still get a position', async () => {
    // a call with more arguments than V8 takes: accepted by the parser, rejected by V8 (on
    // every supported line; Node 22+ accepts the duplicate named groups used before)
    const args = Array(70000).fill('0').join(',');
    const e = await error(`const a = 1;\n  f(${args});`);
    assert.equal(e.name, 'SyntaxError');
    assert.match(e.message, /Too many arguments in function call/);
    assert.equal(e.line, 2);
    assert.equal(e.column, null); // V8 shows no caret for this one
  });

  test('await inside a non-async function', async () => {
    const e = await error('function f() {\n  await 1;\n}');
    assert.equal(e.name, 'SyntaxError');
    assert.equal(e.line, 2);
  });
});

describe('thrown values', { concurrency: 4 }, () => {
  const nonErrors = [
    ['throw "text"', 'text'],
    ['throw null', 'null'],
    ['throw undefined', 'undefined'],
    ['throw 42', '42'],
    ['throw 10n', '10'],
    ['throw Symbol("sym")', 'Symbol(sym)'],
    ['throw { code: 1 }', '[object Object]'],
    ['throw { toString() { return "custom" } }', 'custom'],
    ['throw { toString() { throw new Error("no") } }', '[object (String() threw)]'],
    ['throw Object.create(null)', '[object (String() threw)]'],
    ['throw [1, 2]', '1,2'],
    ['throw () => 1', '() => 1'],
  ];
  for (const [code, message] of nonErrors) {
    test(code, async () => {
      const e = await error(code);
      assert.deepEqual(e, { name: 'Error', message, stack: null, line: null, column: null });
    });
  }

  test('Error subclasses keep their name', async () => {
    const e = await error('class MyError extends Error { constructor(m) { super(m); this.name = "MyError"; } }\nthrow new MyError("mine")');
    assert.equal(e.name, 'MyError');
    assert.equal(e.message, 'mine');
    assert.equal(e.line, 2);
    assert.match(e.stack, /^MyError: mine\n    at user\.js:2:7/);
  });

  test('errors with throwing name/message/stack getters', async () => {
    const e = await error([
      'const err = new Error("x");',
      // (redefining "stack" formats it first, so it goes before the others)
      'Object.defineProperty(err, "stack", { get() { throw new Error("stack getter") } });',
      'Object.defineProperty(err, "name", { get() { throw new Error("name getter") } });',
      'Object.defineProperty(err, "message", { get() { throw new Error("message getter") } });',
      'throw err',
    ].join('\n'));
    assert.equal(e.name, 'Error');
    assert.equal(e.message, '[message getter threw: Error: message getter]');
    assert.equal(e.stack, null);
  });

  test('non-string name/message, Symbol-named stuff', async () => {
    const e = await error('const err = new TypeError("t");\nerr.name = Symbol("n");\nerr.message = { toString() { return "obj message" } };\nthrow err');
    assert.equal(e.name, 'Error');
    assert.equal(e.message, 'obj message');
    assert.equal(e.line, 1);
  });

  test('a Proxy around an Error', async () => {
    const e = await error('throw new Proxy(new Error("p"), { get(t, k) { if (k === "stack") throw 1; return Reflect.get(t, k); }, getPrototypeOf() { throw 2 } })');
    assert.equal(typeof e.name, 'string');
    assert.equal(typeof e.message, 'string');
  });

  test('an object inheriting from Error.prototype without being one', async () => {
    const e = await error('const o = Object.create(TypeError.prototype); o.message = "fake"; throw o');
    assert.equal(e.name, 'TypeError');
    assert.equal(e.message, 'fake');
    assert.equal(e.stack, null);
  });

  test('error without message', async () => {
    const e = await error('throw new Error()');
    assert.equal(e.name, 'Error');
    assert.equal(e.message, '');
    assert.match(e.stack, /^Error\n    at user\.js:1:7/);
  });

  test('rejected promise result', async () => {
    const e = await error('return Promise.reject(new Error("rejected"))');
    assert.equal(e.message, 'rejected');
    assert.equal(e.line, 1);
  });

  test('Error.prepareStackTrace set by user code does not change the outcome', async () => {
    const e = await error('Error.prepareStackTrace = () => "user.js:99:99 hijacked";\nconst x = 1;\n  null.p');
    assert.equal(e.line, 3);
    assert.equal(e.column, 8);
    assert.equal(e.stack, "TypeError: Cannot read properties of null (reading 'p')\n    at user.js:3:8");
  });

  test('a stack formatted earlier by user code is parsed, columns still corrected', async () => {
    const e = await error('let err;\ntry { null.x } catch (e) { err = e; err.stack; }\nError.prepareStackTrace = () => "ignored";\nthrow err');
    assert.equal(e.line, 2);
    assert.equal(e.column, 12);
    assert.equal(e.stack, "TypeError: Cannot read properties of null (reading 'x')\n    at user.js:2:12");
  });

  test('a message that fakes stack frames does not fool the position', async () => {
    const e = await error('const err = new Error("fake\\n    at user.js:77:7");\nerr.stack;\nthrow err');
    assert.equal(e.line, 1);
    assert.equal(e.column, 13);
  });

  test('Error.stackTraceLimit = 0 gives no position', async () => {
    const e = await error('Error.stackTraceLimit = 0;\nnull.x');
    assert.equal(e.line, null);
    assert.equal(e.column, null);
  });

  test('very long messages are clipped', async () => {
    const e = await error('throw new Error("m".repeat(200000))', { max_result_bytes: 10 });
    assert.equal(e.message.length, 65536);
  });
});

describe('exits', { concurrency: 4 }, () => {
  test('process.exit() before return -> ExitError', async () => {
    const r = await runJob('process.exit(3);\nreturn 1');
    assert.equal(r.results.length, 1);
    assert.equal(r.result.status, 'error');
    assert.equal(r.result.error.name, 'ExitError');
    assert.equal(r.result.error.message, 'process.exit(3) was called before the code finished');
    assert.equal(r.exit.code, 0);
  });

  test('process.exit() later, from a timer', async () => {
    const r = await runJob('setTimeout(() => process.exit(), 10);\nawait new Promise(() => setTimeout(() => {}, 5000));');
    assert.equal(r.result.error.name, 'ExitError');
    assert.equal(r.result.error.message, 'process.exit(0) was called before the code finished');
  });

  test('process.exit() with process.exit overwritten and reallyExit called directly', async () => {
    const r = await runJob('const exit = process.exit; process.exit = () => {}; process.reallyExit(5);');
    assert.equal(r.result.error.name, 'ExitError');
    assert.equal(r.result.error.message, 'process.exit(5) was called before the code finished');
  });

  test('a promise that can never settle -> UnsettledError', async () => {
    const r = await runJob('await new Promise(() => {})');
    assert.equal(r.result.error.name, 'UnsettledError');
  });

  test('process.exit from a getter during serialization -> one ExitError result', async () => {
    const r = await runJob('({ get a() { process.exit(2) } })');
    assert.equal(r.results.length, 1);
    assert.equal(r.result.error.name, 'ExitError');
  });
});
