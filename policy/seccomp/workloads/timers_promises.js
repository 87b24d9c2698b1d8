// Timers (setTimeout/setInterval/setImmediate, timers/promises), microtasks, promises, async iteration.
'use strict';
const assert = require('assert');
const { setTimeout: sleep } = require('timers/promises');
const order = [];
(async () => {
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 50));
  const dt = performance.now() - t0;
  assert(dt >= 45, 'timeout fired too early: ' + dt);
  console.log(`ok timers: setTimeout 50ms took ${dt.toFixed(1)}ms`);
  await new Promise((r) => { let n = 0; const h = setInterval(() => { if (++n === 5) { clearInterval(h); r(); } }, 5); });
  console.log('ok timers: setInterval x5');
  setImmediate(() => order.push('immediate'));
  queueMicrotask(() => order.push('microtask'));
  process.nextTick(() => order.push('tick'));
  await sleep(20);
  // (inside an async continuation the microtask queue drains before nextTick callbacks)
  assert.deepStrictEqual([...order].sort(), ['immediate', 'microtask', 'tick']);
  assert.strictEqual(order[2], 'immediate');
  console.log('ok timers: ordering ' + order.join(','));
  const vals = await Promise.all([1, 2, 3].map(async (x) => { await sleep(x); return x * 2; }));
  assert.deepStrictEqual(vals, [2, 4, 6]);
  const settled = await Promise.allSettled([Promise.reject(new Error('x')), Promise.resolve(1)]);
  assert.strictEqual(settled[0].status, 'rejected');
  const winner = await Promise.race([sleep(30, 'slow'), sleep(1, 'fast')]);
  assert.strictEqual(winner, 'fast');
  async function* gen() { for (let i = 0; i < 3; i++) { await sleep(1); yield i; } }
  let s = 0; for await (const v of gen()) s += v;
  assert.strictEqual(s, 3);
  const ac = new AbortController();
  const p = sleep(10000, null, { signal: ac.signal }).catch((e) => e.name);
  ac.abort();
  assert.strictEqual(await p, 'AbortError');
  console.log('ok promises: all/allSettled/race/async-iter/abort');
  const { setInterval: every } = require('timers/promises');
  let k = 0; for await (const _ of every(2)) { if (++k === 3) break; }
  console.log('ok timers: timers/promises setInterval');
  console.log('DONE timers_promises');
})().catch((e) => { console.error(e); process.exitCode = 1; });
