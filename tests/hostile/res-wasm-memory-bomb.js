// about: grow WebAssembly.Memory by 16 MiB steps and touch every new page; start new Memory objects when one hits its maximum
// expect-status: memory_limit|ok
// control: skip unbounded memory growth on the host
// limits: {"timeout_ms": 20000, "memory_mib": 64}
const errc = (e) => (e && typeof e === 'object' && (e.code || e.name)) ? String(e.code || e.name) : String(e);

// As with the Buffer bomb: OOM kill (memory_limit) or a refused allocation ({"refused": true}, the only way to return) are both containment.
const mems = [];
let mem;
try { mem = new WebAssembly.Memory({ initial: 256, maximum: 65536 }); new Uint8Array(mem.buffer).fill(1); }
catch (e) { return { refused: true, grown_mib: 0, error: errc(e) }; }
let grown = 16, failures = 0;
for (;;) {
  try {
    const old = mem.buffer.byteLength;
    mem.grow(256);
    new Uint8Array(mem.buffer, old).fill(1);
    grown += 16; failures = 0;
  } catch (e) {
    mems.push(mem);
    try { mem = new WebAssembly.Memory({ initial: 256, maximum: 65536 }); new Uint8Array(mem.buffer).fill(1); grown += 16; }
    catch (e2) { if (++failures >= 3) { mems.length = 0; return { refused: true, grown_mib: grown, error: errc(e2) }; } }
  }
}
