// about: fork bomb: spawn node children in a loop (each lives 8 s, at most 32) until spawning fails; pids.max/memory must stop it and the host must reap every child
// expect-status: ok|crashed|timeout|memory_limit
// control: skip a fork bomb, even a bounded one, is not run on the shared host
// limits: {"timeout_ms": 10000, "memory_mib": 256, "max_processes": 16}
// Built-ins the way an attacker gets them: getBuiltinModule/require first; if the runner removed those back doors,
// dig them out of objects the runtime still exposes (an fs stream keeps the whole fs module under its kFs symbol -
// process.stdin is an fs.ReadStream when fd 0 is /dev/null - and stdio sockets hand out the net.Socket class).
const mod = (n) => {
  try { const m = process.getBuiltinModule && process.getBuiltinModule(n); if (m) return m; } catch (_) {}
  try { const m = require(n); if (m) return m; } catch (_) {}
  try {
    if (n === 'fs') for (const k of ['stdin', 'stdout', 'stderr']) { const s = process[k]; const y = s && Object.getOwnPropertySymbols(s).find((x) => x.description === 'kFs'); if (y && s[y] && typeof s[y].readFileSync === 'function') return s[y]; }
    if (n === 'net') for (const k of ['stdout', 'stderr', 'stdin']) { const C = process[k] && process[k].constructor; if (typeof C === 'function' && C.name === 'Socket' && typeof C.prototype.connect === 'function') return { Socket: C, connect: (...a) => new C().connect(...a), createConnection: (...a) => new C().connect(...a) }; }
  } catch (_) {}
  return null;
};
const errc = (e) => (e && typeof e === 'object' && (e.code || e.name)) ? String(e.code || e.name) : String(e);
const cp = mod('child_process');

// Bounded so that a broken backend does not take the shared dev host down: 32 children, each exits after 8 s by itself.
const out = { spawned: 0, errors: 0, last_error: null, child_process_available: !!cp };
const t0 = Date.now();
for (let i = 0; i < 32 && Date.now() - t0 < 6000; i++) {
  let ok;
  try {
    const c = cp.spawn(process.execPath, ['-e', 'setTimeout(() => {}, 8000)'], { stdio: 'ignore', env: {} });
    ok = await new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), 2000);
      c.once('spawn', () => { clearTimeout(t); resolve(true); });
      c.once('error', (e) => { clearTimeout(t); out.last_error = errc(e); resolve(false); });
    });
  } catch (e) { ok = false; out.last_error = errc(e); }
  if (ok) out.spawned++; else if (++out.errors >= 5) break;
}
return out;
