// worker_threads: start 2 workers, exchange messages, share memory, terminate.
// Atomics.wait with a timeout on the main thread and in a worker.
'use strict';
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
const assert = require('assert');

if (!isMainThread) {
  const { sab, id } = workerData;
  const ia = new Int32Array(sab);
  parentPort.on('message', (m) => {
    if (m === 'wait') {
      const r = Atomics.wait(ia, 1, 0, 30); // nobody notifies: times out
      parentPort.postMessage({ id, waited: r });
    } else if (m === 'spin') {
      // keep the worker busy so terminate() has to interrupt running JS
      for (;;) { Atomics.add(ia, 2, 1); }
    } else {
      Atomics.add(ia, 0, m);
      Atomics.notify(ia, 3);
      parentPort.postMessage({ id, echo: m * 2 });
    }
  });
  parentPort.postMessage({ id, ready: true });
} else {
  (async () => {
    const sab = new SharedArrayBuffer(16);
    const ia = new Int32Array(sab);
    const t0 = Date.now();
    const r = Atomics.wait(ia, 0, 0, 50);
    const dt = Date.now() - t0;
    assert.strictEqual(r, 'timed-out');
    assert(dt >= 45, 'Atomics.wait returned early ' + dt);
    console.log(`ok atomics: main-thread Atomics.wait timed-out after ${dt}ms`);

    const workers = [0, 1].map((id) => new Worker(__filename, { workerData: { sab, id } }));
    const next = (w) => new Promise((res, rej) => { w.once('message', res); w.once('error', rej); });
    await Promise.all(workers.map(next));
    const echoes = await Promise.all(workers.map((w, i) => { const p = next(w); w.postMessage(10 + i); return p; }));
    assert.deepStrictEqual(echoes.map((e) => e.echo), [20, 22]);
    assert.strictEqual(Atomics.load(ia, 0), 21);
    const waits = await Promise.all(workers.map((w) => { const p = next(w); w.postMessage('wait'); return p; }));
    assert.deepStrictEqual(waits.map((x) => x.waited), ['timed-out', 'timed-out']);
    console.log(`ok workers: 2 workers echoed ${echoes.map((e) => e.echo).join(',')}, shared sum=${Atomics.load(ia, 0)}, worker Atomics.wait timed-out`);
    workers[1].postMessage('spin');
    await new Promise((res) => setTimeout(res, 30));
    const codes = await Promise.all(workers.map((w) => w.terminate()));
    assert.deepStrictEqual(codes, [1, 1]);
    assert(Atomics.load(ia, 2) > 0);
    console.log(`ok workers: terminated (exit codes ${codes.join(',')}), spinning worker interrupted`);
    // a worker that throws, and one that exits by itself
    const bad = new Worker('throw new Error("boom")', { eval: true });
    const err = await new Promise((res) => bad.once('error', res));
    assert.strictEqual(err.message, 'boom');
    const fine = new Worker('process.exit(7)', { eval: true });
    const code = await new Promise((res) => fine.once('exit', res));
    assert.strictEqual(code, 7);
    console.log('ok workers: error propagation and self-exit code 7');
    console.log('DONE workers_atomics');
  })().catch((e) => { console.error(e); process.exitCode = 1; });
}
