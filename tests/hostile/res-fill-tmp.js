// about: fill /tmp with 16 MiB writes until the tmpfs size cap stops it (ENOSPC/EFBIG); capped at 512 MiB so a broken backend cannot fill a host disk; the file is removed afterwards
// expect-status: ok
// expect-result-has: {"stopped": true}
// control: skip would write up to 512 MiB into the host's /tmp
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
const fs = mod('fs'); const path = mod('path');

const CAP = 512 * 1024 * 1024;
const chunk = Buffer.alloc(16 << 20, 0x5a);
const out = { tmp_writable: false, stopped: false, filled_error: null, bytes_written: 0 };
let dir = null;
try {
  dir = fs.mkdtempSync('/tmp/nodecell-hostile-fill-');
  out.tmp_writable = true;
  const fd = fs.openSync(path.join(dir, 'fill'), 'w');
  try { while (out.bytes_written < CAP) out.bytes_written += fs.writeSync(fd, chunk); }
  finally { fs.closeSync(fd); }
} catch (e) { out.filled_error = errc(e); }
finally { if (dir) { try { fs.rmSync(dir, { recursive: true, force: true }); } catch (_) {} } }
// "stopped" = something refused the writes before the 512 MiB cap (an unwritable /tmp counts too; see tmp_writable).
out.stopped = out.filled_error !== null;
return out;
