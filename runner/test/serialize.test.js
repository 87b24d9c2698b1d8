'use strict';
// Result conversion to JSON.
const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const { runJob } = require('../support/harness');
const { serialize } = require('../lib/serialize');
const { quote } = require('../lib/protocol');

async function result(code, job = {}) {
  const r = await runJob({ code, ...job });
  assert.equal(r.results.length, 1);
  return r.result;
}

describe('quote (unit)', () => {
  // JSON.stringify, except that a lone surrogate (which has no UTF-8 form) becomes U+FFFD.
  const expected = (s) => JSON.stringify(s.toWellFormed()).replace(/\uFFFD/g, '\\ufffd');
  test('matches JSON.stringify for every tricky code unit, lone surrogates as U+FFFD', () => {
    const samples = ['', 'plain', '"\\/', '\u2028\u2029', '\ud83d\ude00', '\ud800', '\udc00x', 'a\ud800\ud800\udc00b', '\udfff\ud800'];
    for (let c = 0; c < 0x80; c++) samples.push(String.fromCharCode(c) + 'x');
    for (const s of samples) assert.equal(quote(s), expected(s), JSON.stringify(s));
    let all = '';
    for (let c = 0; c < 0x10000; c += 7) all += String.fromCharCode(c);
    assert.equal(quote(all), expected(all));
  });
});

describe('serialize (unit)', () => {
  const ser = (v, max = 1 << 20) => serialize(v, max);
  test('primitives', () => {
    assert.equal(ser(1.5), '1.5');
    assert.equal(ser(-0), '0');
    assert.equal(ser(1e21), '1e+21');
    assert.equal(ser(NaN), 'null');
    assert.equal(ser(Infinity), 'null');
    assert.equal(ser(-Infinity), 'null');
    assert.equal(ser(true), 'true');
    assert.equal(ser('s'), '"s"');
    assert.equal(ser(null), 'null');
    assert.equal(ser(undefined), 'null');
    assert.equal(ser(() => 1), 'null');
    assert.equal(ser(Symbol('x')), 'null');
    assert.equal(ser(12345678901234567890123n), '"12345678901234567890123"');
    assert.equal(ser(-5n), '"-5"');
  });
  test('matches JSON.stringify on plain data', () => {
    const v = { a: [1, 'two', { three: [true, false, null] }], 'we"ird\nkey': 'v', 2: 'int key first', b: {} };
    assert.equal(ser(v), JSON.stringify(v));
  });
  test('undefined/functions/symbols become null in objects and arrays', () => {
    assert.equal(ser({ u: undefined, f() {}, s: Symbol('s'), [Symbol('k')]: 1 }), '{"u":null,"f":null,"s":null}');
    assert.equal(ser([undefined, () => 1, Symbol('s')]), '[null,null,null]');
  });
});

describe('conversion rules (end to end)', { concurrency: 4 }, () => {
  const cases = [
    ['BigInt', '10n ** 30n', '1000000000000000000000000000000'],
    ['Date', 'new Date(Date.UTC(2020, 0, 2, 3, 4, 5, 6))', '2020-01-02T03:04:05.006Z'],
    ['invalid Date', 'new Date("nope")', null],
    ['Map', 'new Map([["a", 1], [2, new Map([[{}, true]])], [null, [1]]])', { a: 1, 2: { '[object Object]': true }, null: [1] }],
    ['Map duplicate keys after String(): the later value wins', 'new Map([[1, "num"], ["1", "str"], ["x", 0]])', { 1: 'str', x: 0 }],
    ['Set', 'new Set([1, "a", new Set([2])])', [1, 'a', [2]]],
    ['Uint8Array', 'new Uint8Array([1, 2, 255])', [1, 2, 255]],
    ['Float64Array', 'new Float64Array([1.5, NaN, Infinity])', [1.5, null, null]],
    ['BigInt64Array', 'new BigInt64Array([1n, -2n])', ['1', '-2']],
    ['Buffer (typed array)', 'Buffer.from("hi")', [104, 105]],
    ['typed array view of part of a buffer', 'new Uint16Array(new Uint16Array([1, 2, 3, 4]).buffer, 2, 2)', [2, 3]],
    ['ArrayBuffer', 'new Uint8Array([7, 8]).buffer', [7, 8]],
    ['SharedArrayBuffer', '(() => { const s = new SharedArrayBuffer(2); new Uint8Array(s)[1] = 9; return s })()', [0, 9]],
    ['DataView', 'new DataView(new Uint8Array([1, 2, 3, 4]).buffer, 1, 2)', [2, 3]],
    ['boxed primitives', '[new Number(3), new String("s"), new Boolean(false), Object(5n), Object(Symbol("x"))]', [3, 's', false, '5', null]],
    ['undefined / function / symbol', '[undefined, function () {}, Symbol("x"), { a: undefined, b: () => 1, c: Symbol("y") }]', [null, null, null, { a: null, b: null, c: null }]],
    ['NaN / Infinity', '[NaN, Infinity, -Infinity, { x: NaN }]', [null, null, null, { x: null }]],
    ['only own enumerable string keys', 'const p = { inherited: 1 }; const o = Object.create(p); o.own = 2; Object.defineProperty(o, "hidden", { value: 3 }); o[Symbol("s")] = 4; o', { own: 2 }],
    ['getters are read', '({ get g() { return "got" } })', { g: 'got' }],
    ['class instances', 'class P { constructor() { this.x = 1 } get y() { return 2 } }; new P()', { x: 1 }],
    ['sparse arrays', '[1, , 3]', [1, null, 3]],
    ['Error objects -> own enumerable keys', 'Object.assign(new Error("m"), { code: "E1" })', { code: 'E1' }],
    ['RegExp / Promise / WeakMap -> {}', '[/x/g, Promise.resolve(1), new WeakMap()]', [{}, {}, {}]],
    ['shared (non-circular) references are fine', 'const s = { v: 1 }; [s, s, { s }]', [{ v: 1 }, { v: 1 }, { s: { v: 1 } }]],
    ['lone surrogates (as U+FFFD) and control chars', '"\\ud800 \\udc00 \\u0001 \\u2028 \\"\\\\"', '\ufffd \ufffd \u0001 \u2028 "\\'],
    ['unicode keys and values', '({ "ключ": "значение 🙂" })', { 'ключ': 'значение 🙂' }],
    ['toJSON is not called', '({ toJSON() { return "nope" }, a: 1 })', { toJSON: null, a: 1 }],
    ['a Proxy is read through its traps', 'new Proxy({ a: 1 }, { get: (t, k) => k === "a" ? 42 : undefined })', { a: 42 }],
    ['null-prototype objects', 'Object.assign(Object.create(null), { a: 1 })', { a: 1 }],
    ['module objects', 'import * as ns from "lodash"; typeof ns.map', 'function'],
  ];
  for (const [name, expr, expected] of cases) {
    test(name, async () => {
      const r = await result(expr);
      assert.equal(r.status, 'ok', JSON.stringify(r));
      assert.deepEqual(r.result, expected);
    });
  }

  // The host parses frames with a nesting limit of 128 (a deeper result used to reach it
  // and end as "crashed"); the runner's cap keeps every result it sends parseable.
  test('depth 120 is fine, 121 is an error', async () => {
    let r = await result('let v = 1; for (let i = 0; i < 120; i++) v = [v]; v');
    assert.equal(r.status, 'ok');
    r = await result('let v = 1; for (let i = 0; i < 121; i++) v = { v }; v');
    assert.equal(r.status, 'error');
    assert.equal(r.error.name, 'ResultError');
    assert.equal(r.error.message, 'result nesting exceeds 120 levels');
    assert.equal(r.error.stack, null);
  });

  test('very deep nesting (1e6) is an error, not a crash', async () => {
    const r = await result('let v = null; for (let i = 0; i < 1e6; i++) v = [v]; v');
    assert.equal(r.error.name, 'ResultError');
  });

  for (const [name, expr] of [
    ['object', 'const a = { b: {} }; a.b.a = a; a'],
    ['array', 'const a = [1]; a.push(a); a'],
    ['Map value', 'const m = new Map(); m.set("self", m); m'],
    ['Set item', 'const s = new Set(); s.add([s]); s'],
  ]) {
    test(`circular ${name} -> error`, async () => {
      const r = await result(expr);
      assert.equal(r.status, 'error');
      assert.equal(r.error.name, 'ResultError');
      assert.match(r.error.message, /circular/);
    });
  }

  test('too large -> ResultTooLarge naming the limit', async () => {
    const r = await result('"x".repeat(200)', { max_result_bytes: 100 });
    assert.equal(r.status, 'error');
    assert.equal(r.error.name, 'ResultTooLarge');
    assert.match(r.error.message, /100/);
  });

  test('the limit is in UTF-8 bytes of the JSON text', async () => {
    // "é" is 2 bytes: '"éé"' is 6 bytes.
    assert.equal((await result('"éé"', { max_result_bytes: 6 })).status, 'ok');
    assert.equal((await result('"éé"', { max_result_bytes: 5 })).error.name, 'ResultTooLarge');
    assert.equal((await result('"ab"', { max_result_bytes: 4 })).status, 'ok');
  });

  test('huge sparse array stops at the limit', async () => {
    const r = await result('const a = []; a.length = 4e9; a', { max_result_bytes: 1000 });
    assert.equal(r.error.name, 'ResultTooLarge');
  });

  test('a throwing getter -> error result with its position', async () => {
    const r = await result('const o = { a: 1,\n  get bad() { throw new RangeError("getter") } };\no');
    assert.equal(r.status, 'error');
    assert.equal(r.error.name, 'RangeError');
    assert.equal(r.error.message, 'getter');
    assert.equal(r.error.line, 2);
    assert.equal(r.error.column, 21);
  });

  test('throwing Proxy traps -> error result', async () => {
    for (const trap of ['ownKeys', 'getOwnPropertyDescriptor', 'get']) {
      const r = await result(`new Proxy({ a: 1 }, { ${trap}() { throw new Error("${trap} trap") } })`);
      assert.equal(r.status, 'error');
      assert.equal(r.error.message, `${trap} trap`);
    }
  });

  test('Map key whose String() throws -> error result', async () => {
    const r = await result('new Map([[{ toString() { throw new Error("key") } }, 1]])');
    assert.equal(r.error.message, 'key');
  });
});
