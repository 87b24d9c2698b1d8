// about: open file descriptors until EMFILE/ENFILE (at most 100000), report the count, close them again
// expect-status: ok
// control: skip holds up to 100000 host file descriptors
// limits: {"timeout_ms": 20000, "memory_mib": 256}
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

const CAP = 100000;
const fds = [];
const out = { count: 0, error: null, capped: false, target: null };
for (const t of ['/dev/null', process.execPath, '/']) { try { fs.closeSync(fs.openSync(t, 'r')); out.target = t; break; } catch (_) {} }
if (!out.target) return { count: 0, error: 'nothing openable', capped: false };
try { while (fds.length < CAP) fds.push(fs.openSync(out.target, 'r')); out.capped = true; }
catch (e) { out.error = errc(e); }
out.count = fds.length;
for (const fd of fds) { try { fs.closeSync(fd); } catch (_) {} }
try { out.nofile_limit = (fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files')) || '').replace(/\s+/g, ' ').trim(); } catch (_) {}
return out;
