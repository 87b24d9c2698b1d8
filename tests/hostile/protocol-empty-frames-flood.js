// about: write zero-length frames to the event fd (4) forever: a frame the host ignores must still cost the output budget, so the run ends at the budget instead of keeping the host busy outside the sandbox's cgroup until the timeout
// expect-status: output_limit
// expect-truncated: true
// control: skip protocol robustness does not depend on the sandbox
// limits: {"timeout_ms": 10000, "memory_mib": 128, "max_output_bytes": 65536}
const mod = (n) => {
  try { const m = process.getBuiltinModule && process.getBuiltinModule(n); if (m) return m; } catch (_) {}
  try { const m = require(n); if (m) return m; } catch (_) {}
  for (const k of ['stdin', 'stdout', 'stderr']) {
    const s = process[k];
    const y = s && Object.getOwnPropertySymbols(s).find((x) => x.description === 'kFs');
    if (y && s[y] && typeof s[y].writeSync === 'function') return s[y];
  }
  return null;
};
const fs = mod('fs');
if (!fs) throw new Error('no fs to write frames with');
const zeros = Buffer.alloc(4 * 4096); // 4096 frames of length 0
for (let i = 0; ; i++) {
  try { fs.writeSync(4, zeros); } catch (e) { if (e.code !== 'EAGAIN') throw e; }
  if ((i & 63) === 63) await new Promise((r) => setImmediate(r));
}
