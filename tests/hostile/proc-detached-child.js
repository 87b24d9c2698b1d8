// about: spawn a detached, unref'd node child (setInterval forever, stdio ignored, new session) and return at once; the host must still reap it
// expect-status: ok
// control: skip the runner removes process.getBuiltinModule/binding and does not allowlist child_process, so it is unreachable from jobs even unsandboxed; kept as defence in depth against a runner regression
// limits: {"timeout_ms": 5000, "memory_mib": 256}
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

// The harness's post-run check (no process of the run left) is the assertion.
const out = { spawned: false, child_process_available: !!cp };
try {
  const c = cp.spawn(process.execPath, ['-e', 'process.on("SIGTERM",()=>{});process.on("SIGHUP",()=>{});setInterval(()=>{},1000)'], { detached: true, stdio: 'ignore' });
  out.spawned = await new Promise((resolve) => { c.once('spawn', () => resolve(true)); c.once('error', (e) => { out.error = errc(e); resolve(false); }); });
  out.pid = c.pid || null;
  c.unref();
} catch (e) { out.error = errc(e); }
return out;
