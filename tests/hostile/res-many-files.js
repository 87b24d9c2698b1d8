// about: create empty files in a /tmp directory until an error (inode cap/ENOSPC/memory), at most 200000, then remove them
// expect-status: ok|memory_limit
// control: skip would create up to 200000 files in the host's /tmp
// limits: {"timeout_ms": 60000, "memory_mib": 256}
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
const fs = mod('fs'); const path = mod('path');

const CAP = 200000;
const out = { count: 0, stopped_error: null, capped: false };
let dir = null;
const t0 = Date.now();
try {
  dir = fs.mkdtempSync('/tmp/nodecell-hostile-inodes-');
  for (; out.count < CAP; out.count++) fs.closeSync(fs.openSync(path.join(dir, 'f' + out.count), 'wx'));
  out.capped = true;
} catch (e) { out.stopped_error = errc(e); }
out.create_ms = Date.now() - t0;
if (dir) { try { fs.rmSync(dir, { recursive: true, force: true }); } catch (e) { out.cleanup_error = errc(e); } }
return out;
