// about: open the inspector programmatically with inspector.open(9229, '127.0.0.1') obtained via process.getBuiltinModule, and report the URL it listens on
// expect-status: ok
// control: skip would expose a root debugger on the host's loopback for the length of the run
// limits: {"timeout_ms": 5000, "memory_mib": 128}
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
const inspector = mod('inspector');

// Same caveat as net-inspector-sigusr1: reported, not asserted.
const out = { module_available: !!inspector, opened: false, errors: {} };
if (inspector) {
  try { inspector.open(9229, '127.0.0.1', false); const u = inspector.url(); out.opened = !!u; out.url_host = u ? new URL(u).host : null; }
  catch (e) { out.errors.open = errc(e); }
  try { const u = inspector.url(); if (u) { out.opened = true; out.url_host = new URL(u).host; } } catch (_) {}
  try { inspector.close(); } catch (e) { out.errors.close = errc(e); }
}
return out;
