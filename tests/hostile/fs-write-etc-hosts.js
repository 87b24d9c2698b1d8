// about: open /etc/hosts, /etc/resolv.conf, /etc/passwd and the OpenSSL config for writing (O_WRONLY|O_APPEND, closed unwritten)
// expect-status: ok
// expect-result-has: {"writable": false}
// control-result-has: {"writable": true}
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
const fs = mod('fs');

// The open is the permission gate (EROFS/EACCES/Landlock); nothing is written, so the control is safe as root.
const out = { writable: false, attempts: {} };
for (const f of ['/etc/hosts', '/etc/resolv.conf', '/etc/passwd', '/etc/ssl/openssl.cnf', '/etc/nsswitch.conf']) {
  try { const fd = fs.openSync(f, fs.constants.O_WRONLY | fs.constants.O_APPEND); fs.closeSync(fd); out.attempts[f] = 'opened'; out.writable = true; }
  catch (e) { out.attempts[f] = errc(e); }
}
return out;
