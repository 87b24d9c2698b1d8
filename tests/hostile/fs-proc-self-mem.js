// about: open /proc/self/mem (and /proc/<pid>/mem, and a /tmp/self -> /proc/self symlink alias) read-write, the primitive Deno CVE-2024-34346 used to overwrite V8 code; opened only, never written
// expect-status: ok
// expect-result-has: {"opened": false}
// control-result-has: {"opened": true}
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
const fs = mod('fs'); const os = mod('os') || { tmpdir: () => '/tmp' }; const path = mod('path');

const out = { opened: false, attempts: {} };
const tryOpen = (label, p) => {
  try { const fd = fs.openSync(p, 'r+'); fs.closeSync(fd); out.attempts[label] = 'opened'; out.opened = true; }
  catch (e) { out.attempts[label] = errc(e); }
};
tryOpen('self', '/proc/self/mem');
tryOpen('pid', `/proc/${process.pid}/mem`);
tryOpen('thread_self', '/proc/thread-self/mem');
let dir = null;
try {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodecell-hostile-mem-'));
  fs.symlinkSync('/proc/self', path.join(dir, 'self'));
  tryOpen('symlink_alias', path.join(dir, 'self', 'mem'));
} catch (e) { out.attempts.symlink_alias = 'setup:' + errc(e); }
finally { if (dir) { try { fs.rmSync(dir, { recursive: true, force: true }); } catch (_) {} } }
return out;
