// WebAssembly compile+instantiate with memory.grow, Buffer allocations up to 200 MB,
// a large heap (array of 5M objects), typed arrays, GC via heap churn.
'use strict';
const assert = require('assert');

(async () => {
  // (module (memory (export "mem") 1) (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
  //         (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
  const bytes = new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x0c, 0x02, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f,
    0x03, 0x03, 0x02, 0x00, 0x01,
    0x05, 0x03, 0x01, 0x00, 0x01,
    0x07, 0x14, 0x03, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x04, 0x67, 0x72, 0x6f, 0x77, 0x00, 0x00, 0x03, 0x61, 0x64, 0x64, 0x00, 0x01,
    0x0a, 0x10, 0x02, 0x06, 0x00, 0x20, 0x00, 0x40, 0x00, 0x0b, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b,
  ]);
  assert(WebAssembly.validate(bytes));
  const mod = await WebAssembly.compile(bytes);
  const { exports } = await WebAssembly.instantiate(mod);
  assert.strictEqual(exports.add(40, 2), 42);
  const before = exports.mem.buffer.byteLength;
  const prev = exports.grow(100); // +6.4 MB
  assert.strictEqual(prev, 1);
  exports.mem.grow(1000); // +64 MB via the JS API
  const after = exports.mem.buffer.byteLength;
  assert.strictEqual(after, (1 + 100 + 1000) * 65536);
  new Uint8Array(exports.mem.buffer).fill(7, after - 1000);
  const inst2 = new WebAssembly.Instance(new WebAssembly.Module(bytes)); // sync path
  assert.strictEqual(inst2.exports.add(1, 1), 2);
  console.log(`ok wasm: add(40,2)=42, memory ${before} -> ${after} bytes`);

  const sizes = [1 << 10, 1 << 20, 16 << 20, 64 << 20, 200 << 20];
  for (const s of sizes) {
    const b = Buffer.alloc(s, 1);
    assert.strictEqual(b[s - 1], 1);
  }
  const u = Buffer.allocUnsafe(200 << 20); u.fill(2); assert.strictEqual(u[(200 << 20) - 1], 2);
  const ab = new ArrayBuffer(100 << 20, { maxByteLength: 200 << 20 });
  ab.resize(200 << 20);
  assert.strictEqual(ab.byteLength, 200 << 20);
  console.log('ok memory: Buffer.alloc/allocUnsafe up to 200 MB, resizable ArrayBuffer 200 MB');

  const arr = new Array(5_000_000);
  for (let i = 0; i < arr.length; i++) arr[i] = { i, s: 'v' + (i % 1000) };
  let sum = 0; for (let i = 0; i < arr.length; i += 1000) sum += arr[i].i;
  assert.strictEqual(sum, 12497500000);
  const used = process.memoryUsage().heapUsed;
  console.log(`ok memory: 5M objects, heapUsed=${(used / 1048576).toFixed(0)} MB`);
  arr.length = 0;
  // churn so that scavenges and mark-compacts run and free memory back
  for (let r = 0; r < 20; r++) { let t = []; for (let i = 0; i < 200000; i++) t.push({ r, i }); t = null; }
  const m = new Map(); for (let i = 0; i < 300000; i++) m.set('k' + i, i);
  assert.strictEqual(m.size, 300000);
  console.log(`ok memory: churn done, rss=${(process.memoryUsage().rss / 1048576).toFixed(0)} MB`);
  console.log('DONE memory_wasm');
})().catch((e) => { console.error(e); process.exitCode = 1; });
