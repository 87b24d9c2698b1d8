// about: patch Date.now, new Date(), performance.now and process.hrtime to freeze time at 0, then burn 300 ms: only the job is fooled, the host measures duration itself
// expect-status: ok
// expect-result-has: {"patched": true}
// control: skip the interesting check (outcome usage shows >= 300 ms) is host-side in the sandboxed run
// limits: {"timeout_ms": 5000, "memory_mib": 128}
const realNow = Date.now;
const RealDate = Date;
const t0 = realNow();
Date.now = () => 0;
globalThis.Date = class extends RealDate { constructor(...a) { if (a.length === 0) super(0); else super(...a); } static now() { return 0; } };
try { performance.now = () => 0; } catch (_) {}
try { const z = () => [0, 0]; z.bigint = () => 0n; process.hrtime = z; } catch (_) {}
try { process.uptime = () => 0; process.cpuUsage = () => ({ user: 0, system: 0 }); process.resourceUsage = () => ({}); process.memoryUsage = Object.assign(() => ({ rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }), { rss: () => 0 }); } catch (_) {}
while (realNow() - t0 < 300) {}
return { patched: Date.now() === 0 && new Date().getTime() === 0, burned_ms: realNow() - t0 };
