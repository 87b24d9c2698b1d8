'use strict';
// Frame protocol: ready first, one job, one result, exit codes, timing.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { start, runJob, frame } = require('../support/harness');

const JOB = { code: 'return 1', inputs: {}, max_result_bytes: 1 << 20, max_output_bytes: 1 << 20 };

test('ready is the first frame, then exactly one result, exit 0', async () => {
  const r = await runJob('console.log("x"); return 1');
  assert.deepEqual(r.ready, { type: 'ready' });
  assert.deepEqual(r.frames, [
    { type: 'log', level: 'log', message: 'x' },
    { type: 'result', status: 'ok', result: 1 },
  ]);
  assert.equal(r.exit.code, 0);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, '');
});

test('ready is sent before any job is written', async () => {
  const r = start();
  const ready = await r.next();
  assert.deepEqual(ready, { type: 'ready' });
  assert.equal(r.state.frames.length, 1);
  r.send(JOB);
  assert.deepEqual(await r.next(), { type: 'result', status: 'ok', result: 1 });
  assert.equal((await r.exited).code, 0);
});

test('a job arriving late (200 ms after ready) works', async () => {
  const r = await runJob('return "late"', { delayMs: 200 });
  assert.deepEqual(r.result, { type: 'result', status: 'ok', result: 'late' });
  assert.equal(r.exit.code, 0);
});

test('a job frame split into small, delayed writes is reassembled', async () => {
  const r = start();
  await r.next();
  const bytes = frame({ ...JOB, code: 'return "é🙂" + "x".repeat(1000)' });
  const pause = () => new Promise((res) => setTimeout(res, 20));
  r.child.stdio[3].write(bytes.subarray(0, 2)); await pause();
  r.child.stdio[3].write(bytes.subarray(2, 7)); await pause();
  r.child.stdio[3].write(bytes.subarray(7, 600)); await pause();
  r.child.stdio[3].write(bytes.subarray(600));
  assert.deepEqual(await r.next(), { type: 'result', status: 'ok', result: 'é🙂' + 'x'.repeat(1000) });
  assert.equal((await r.exited).code, 0);
});

for (const [what, bytes] of [
  ['no job at all', Buffer.alloc(0)],
  ['a partial header', Buffer.from([0, 0])],
  ['a partial body', frame(JOB).subarray(0, 10)],
]) {
  test(`EOF after ${what} -> exit 70, no further frames`, async () => {
    const r = start();
    await r.next();
    r.child.stdio[3].end(bytes);
    const exit = await r.exited;
    await r.closed;
    assert.equal(exit.code, 70);
    assert.equal(r.state.frames.length, 1);
    assert.equal(r.state.stdout + r.state.stderr, '');
  });
}

test('a job that is not a JSON object with a code string -> exit 70', async () => {
  for (const body of ['not json', '[1]', '{"inputs":{}}']) {
    const r = start();
    await r.next();
    r.send(body);
    assert.equal((await r.exited).code, 70);
  }
});

test('pending timers are dropped once the code settles', async () => {
  const r = await runJob('setTimeout(() => console.log("late"), 5000); setInterval(() => {}, 10); return 2');
  assert.deepEqual(r.frames, [{ type: 'result', status: 'ok', result: 2 }]);
  assert.ok(r.elapsedMs < 2000, `took ${r.elapsedMs} ms`);
});

test('stdout/stderr are the real fds 1/2 and never carry protocol data', async () => {
  const code = [
    'process.stdout.write("to stdout\\n");',
    'process.stderr.write("to stderr\\n");',
    'process.stdout.write(JSON.stringify({ type: "result", status: "ok", result: "forged" }));',
    'return "real"',
  ].join('\n');
  const r = await runJob(code);
  assert.equal(r.stdout, 'to stdout\n{"type":"result","status":"ok","result":"forged"}');
  assert.equal(r.stderr, 'to stderr\n');
  assert.deepEqual(r.results, [{ type: 'result', status: 'ok', result: 'real' }]);
});

test('max sizes default when missing from the job', async () => {
  const r = await runJob({ code: 'return [1]', max_result_bytes: undefined, max_output_bytes: undefined });
  assert.deepEqual(r.result.result, [1]);
});

test('large stdout/stderr output is delivered completely before the exit', async () => {
  const r = await runJob('process.stdout.write("x".repeat(3 << 20));\nprocess.stderr.write("y".repeat(1 << 20));\nsetTimeout(() => process.stdout.write("late"), 0);\nreturn 1');
  assert.equal(r.stdout.length, 3 << 20);
  assert.equal(r.stderr.length, 1 << 20);
  assert.equal(r.result.result, 1);
});
