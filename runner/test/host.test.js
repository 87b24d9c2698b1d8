'use strict';
// Host calls (host.js): a declared function writes a call frame and blocks until the reply
// with its id arrives on the job channel; replies are values, undefined, BigInts or errors.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { start, frame } = require('../support/harness');
const { reviveBigInts } = require('../lib/host');

function job(code, functions, extra = {}) {
  return {
    code, inputs: {}, max_result_bytes: 1 << 20, max_output_bytes: 1 << 20,
    host: { functions, max_payload_bytes: 1000 }, ...extra,
  };
}

// Runs `code`, answering each call with `answer(call)` (a reply frame's fields).
async function session(code, functions, answer, extra) {
  const r = start();
  await r.next(); // ready
  r.send(job(code, functions, extra));
  const calls = [];
  for (;;) {
    const f = await r.next();
    if (f.type !== 'call') {
      r.child.stdio[3].end();
      await r.exited;
      return { calls, result: f };
    }
    calls.push(f);
    const reply = answer(f);
    const replies = reply === null ? [] : Array.isArray(reply) ? reply : [{ id: f.id, ...reply }];
    for (const one of replies) r.child.stdio[3].write(frame({ type: 'reply', ...one }));
  }
}

test('calls are synchronous, numbered, and carry the nonce and the arguments', async () => {
  const { calls, result } = await session(
    'const a = state.get("k"); const b = lookup(1, [2], {d: new Date(0)}); return [a, b, typeof nothing()]',
    [{ name: 'state.get' }, { name: 'lookup' }, { name: 'nothing' }],
    (c) => (c.name === 'nothing' ? {} : { result: { name: c.name, id: c.id } }),
    { profile: 'avs' });
  assert.deepEqual(result, { type: 'result', status: 'ok', result: [
    { name: 'state.get', id: 1 }, { name: 'lookup', id: 2 }, 'undefined'] });
  assert.deepEqual(calls.map((c) => [c.id, c.name, c.args]), [
    [1, 'state.get', ['k']],
    [2, 'lookup', [1, [2], { d: '1970-01-01T00:00:00Z' }]],
    [3, 'nothing', []],
  ]);
  assert.equal(calls[0].nonceMismatch, undefined);
});

test('a reply for another id is skipped; an error reply throws the caller\'s message', async () => {
  const { result } = await session(
    'try { f() } catch (e) { return [e instanceof Error, e.message, g()] }',
    [{ name: 'f' }, { name: 'g' }],
    (c) => (c.name === 'f' ? [{ id: 99, result: 'stray' }, { id: c.id, error: 'denied' }] : { result: 'g' }));
  assert.deepEqual(result.result, [true, 'denied', 'g']);
});

test('returns_promise gives a promise; BigInt replies revive', async () => {
  const { result } = await session(
    'const p = f(); const r = await p; return [p instanceof Promise, typeof r, String(r), typeof g()]',
    [{ name: 'f', returns_promise: true }, { name: 'g' }],
    (c) => ({ result: c.name === 'f' ? { $bigint: '123456789012345678901234567890' } : { $bigint: 'x1' } }));
  assert.deepEqual(result.result, [true, 'bigint', '123456789012345678901234567890', 'object']);
  assert.equal(reviveBigInts('', { $bigint: '-12' }), -12n);
  assert.deepEqual(reviveBigInts('', { $bigint: '1', other: 1 }), { $bigint: '1', other: 1 });
});

test('arguments over max_payload_bytes throw before anything is sent', async () => {
  const { calls, result } = await session(
    'try { f("x".repeat(2000)) } catch (e) { return [e.name, e.message] }',
    [{ name: 'f' }], () => ({ result: 1 }));
  assert.equal(calls.length, 0);
  assert.deepEqual(result.result, ['RangeError', 'the arguments of f exceed max_payload_bytes (1000 bytes of JSON)']);
});

test('members join an existing object (avs state keeps its other stubs)', async () => {
  const { result } = await session(
    'return [state.get("a"), (() => { try { state.set("a", 1) } catch (e) { return e.name } })()]',
    [{ name: 'state.get' }], () => ({ result: 'v' }), { profile: 'avs' });
  assert.deepEqual(result.result, ['v', 'HostCallError']);
});

test('a host that closes the channel mid-call ends the runner with exit 71', async () => {
  const r = start();
  await r.next();
  r.send(job('f(); return 1', [{ name: 'f' }]));
  const call = await r.next();
  assert.equal(call.type, 'call');
  r.child.stdio[3].end();
  assert.equal((await r.exited).code, 71);
});

test('without host functions the job channel is closed after the job', async () => {
  const { result } = await session('return typeof f', [], () => null);
  assert.deepEqual(result.result, 'undefined');
});
