'use strict';
// User code tampering with built-ins must not change the outcome the runner
// sends (or keep it from sending one).
const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const { runJob } = require('../support/harness');

const VALUE = '({ a: [1, "two", new Date(0), new Map([["k", new Set([1n])]]), new Uint8Array([5]), undefined, NaN], s: "\\ud800é" })';
const EXPECTED = { a: [1, 'two', '1970-01-01T00:00:00.000Z', { k: ['1'] }, [5], null, null], s: '\ufffdé' };

async function outcome(code) {
  const r = await runJob(code);
  assert.equal(r.results.length, 1, JSON.stringify(r.frames) + r.stderr);
  assert.equal(r.exit.code, 0);
  return r;
}

const tampering = {
  'JSON.stringify replaced': 'JSON.stringify = () => "{\\"forged\\":1}";',
  'JSON replaced': 'globalThis.JSON = { stringify() { throw new Error("no") }, parse() { throw new Error("no") } };',
  'toJSON on Object/Array/String/Number/Date prototypes': [
    'Object.prototype.toJSON = () => "hacked";',
    'Array.prototype.toJSON = () => "hacked";',
    'String.prototype.toJSON = () => "hacked";',
    'Number.prototype.toJSON = () => "hacked";',
    'Date.prototype.toJSON = () => "hacked";',
    'Date.prototype.toISOString = () => "hacked";',
    'Date.prototype.getTime = () => NaN;',
  ].join('\n'),
  'Promise.prototype.then = noop, constructor = 42': 'Promise.prototype.then = () => {};\nPromise.prototype.constructor = 42;',
  'Promise.prototype.then throws, Symbol.species throws, catch/finally replaced': [
    'Promise.prototype.then = function () { throw new Error("then") };',
    'Promise.prototype.catch = function () { throw new Error("catch") };',
    'Promise.prototype.finally = function () { throw new Error("finally") };',
    'Object.defineProperty(Promise, Symbol.species, { get() { throw new Error("species") } });',
    'globalThis.Promise = function () { throw new Error("Promise") };',
  ].join('\n'),
  'Object / Reflect / Array statics replaced': [
    'for (const k of ["keys", "defineProperty", "getOwnPropertyDescriptor", "getPrototypeOf", "getOwnPropertyNames", "freeze", "create"]) Object[k] = () => { throw new Error(k) };',
    'Reflect.ownKeys = () => ["forged"]; Reflect.apply = () => { throw new Error("apply") };',
    'Array.isArray = () => false;',
  ].join('\n'),
  'collection and string prototype methods replaced': [
    'for (const C of [Map, Set, WeakMap, WeakSet]) for (const k of Object.getOwnPropertyNames(C.prototype)) if (k !== "constructor" && k !== "size") C.prototype[k] = () => { throw new Error(C.name + "." + k) };',
    'for (const k of ["slice", "charCodeAt", "indexOf", "lastIndexOf", "toString", "valueOf", "codePointAt"]) String.prototype[k] = () => { throw new Error("String." + k) };',
    'RegExp.prototype.exec = () => null; RegExp.prototype.test = () => false;',
    'Symbol.prototype.toString = () => { throw 1 };',
    'Number.prototype.toString = () => "x"; BigInt.prototype.toString = () => "x";',
  ].join('\n'),
  'Function.prototype.call/apply/bind replaced': 'Function.prototype.call = Function.prototype.apply = Function.prototype.bind = () => { throw new Error("fn") };',
  'typed array / buffer tampering': [
    'const TA = Object.getPrototypeOf(Uint8Array.prototype);',
    'for (const k of ["length", "byteLength", "byteOffset", "buffer"]) Object.defineProperty(TA, k, { get() { return 0 } });',
    'TA.set = () => { throw new Error("set") };',
    'globalThis.Uint8Array = function () { throw new Error("U8") };',
    'Buffer.byteLength = () => 0; Buffer.from = () => { throw new Error("from") };',
    'TextEncoder.prototype.encode = () => new Uint8Array(0);',
  ].join('\n'),
  'array index setters on Array.prototype': 'for (let i = 0; i < 4; i++) Object.defineProperty(Array.prototype, i, { set() { throw new Error("index " + i) }, configurable: true });',
  'console and process.stdout.write replaced': 'globalThis.console = null; process.stdout.write = null; process.stderr.write = () => { throw 1 };',
  'Error, Error.prepareStackTrace and stackTraceLimit tampered': 'Error.prepareStackTrace = () => { throw new Error("pst") };\nglobalThis.Error = function () {};\nErrorLike = 1;',
  'Object.prototype polluted with get/set/value/writable/then': [
    'Object.prototype.get = function () { return 1 };',
    'Object.prototype.set = function () {};',
    'Object.defineProperty(Object.prototype, "value", { get() { throw new Error("value") }, configurable: true });',
    'Object.prototype.writable = false;',
    'Object.prototype.enumerable = true;',
  ].join('\n'),
  'Error and its prepareStackTrace frozen': 'Error.prepareStackTrace = () => "frozen";\nObject.freeze(Error);\nObject.defineProperty(globalThis, "Error", { value: Error, writable: false, configurable: false });',
  'process.exit / reallyExit / on replaced': 'process.exit = () => {}; process.reallyExit = () => {}; process.on = () => { throw 1 }; process.emit = () => {};',
};

describe('tampering does not change a successful outcome', { concurrency: 4 }, () => {
  for (const [name, setup] of Object.entries(tampering)) {
    test(name, async () => {
      // the value is built before tampering (building it afterwards would
      // run into the tampered constructors in user code itself)
      const r = await outcome(`const v = ${VALUE};\n${setup}\nreturn v`);
      assert.deepEqual(r.result, { type: 'result', status: 'ok', result: EXPECTED });
    });
  }
});

describe('tampering does not change an error outcome', { concurrency: 4 }, () => {
  for (const [name, setup] of Object.entries(tampering)) {
    test(name, async () => {
      const lines = setup.split('\n').length;
      const r = await outcome(`${setup}\n  nothing.here`);
      const e = r.result.error;
      assert.equal(r.result.status, 'error');
      assert.equal(e.name, 'ReferenceError');
      assert.equal(e.message, 'nothing is not defined');
      if (name === 'Error and its prepareStackTrace frozen') {
        // Both ways to install the runner's stack hook are blocked: the user's
        // formatter wins, the position is unknown; still a well-formed outcome.
        assert.equal(e.stack, 'frozen');
        assert.equal(e.line, null);
        assert.equal(e.column, null);
        return;
      }
      assert.equal(e.line, lines + 1);
      assert.equal(e.column, 3);
      assert.equal(e.stack, `ReferenceError: nothing is not defined\n    at user.js:${lines + 1}:3`);
    });
  }
});

test('logging still works after heavy tampering', async () => {
  const r = await outcome(`const log = console.log;\n${tampering['collection and string prototype methods replaced']}\n${tampering['typed array / buffer tampering']}\nJSON.stringify = null;\nlog("still %s", "here");\nreturn 1`);
  assert.deepEqual(r.logs, [{ type: 'log', level: 'log', message: 'still here' }]);
  assert.equal(r.result.result, 1);
});
