// about: start up to 200 worker_threads that stay alive (eval setInterval), count how many came online, then terminate them
// expect-status: ok|memory_limit|crashed
// control: skip the runner removes process.getBuiltinModule/binding and does not allowlist worker_threads, so it is unreachable from jobs even unsandboxed; kept as defence in depth against a runner regression
// limits: {"timeout_ms": 30000, "memory_mib": 256}
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
const wt = mod('worker_threads');

const workers = [];
const out = { started: 0, failed: 0, last_error: null, worker_threads_available: !!wt };
const t0 = Date.now();
for (let i = 0; i < 200 && Date.now() - t0 < 20000; i++) {
  let w;
  try { w = new wt.Worker('setInterval(() => {}, 1000)', { eval: true }); }
  catch (e) { out.failed++; out.last_error = errc(e); if (out.failed >= 5) break; continue; }
  workers.push(w);
  const ok = await new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), 3000);
    w.once('online', () => { clearTimeout(t); resolve(true); });
    w.once('error', (e) => { clearTimeout(t); out.last_error = errc(e); resolve(false); });
  });
  if (ok) out.started++; else { out.failed++; if (out.failed >= 5) break; }
}
out.elapsed_ms = Date.now() - t0;
await Promise.all(workers.map((w) => w.terminate().catch(() => {})));
return out;
