// about: read the host canary file and list its directory by their host paths (sync, promises and fd APIs)
// expect-status: ok
// expect-result-has: {"read": false, "dir_listed": false}
// control-result-has: {"read": true, "dir_listed": true}
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
const I = (typeof inputs === 'object' && inputs) ? inputs : {};
const fs = mod('fs');

// Never return file contents: only whether a read succeeded and how many bytes came back.
const out = { read: false, dir_listed: false, bytes: 0, errors: {} };
const p = I.canary_path;
try { out.bytes = fs.readFileSync(p).length; out.read = true; } catch (e) { out.errors.readFileSync = errc(e); }
try { out.bytes = (await fs.promises.readFile(p)).length; out.read = true; } catch (e) { out.errors.promises_readFile = errc(e); }
try {
  const fd = fs.openSync(p, 'r');
  try { if (fs.readSync(fd, Buffer.alloc(16), 0, 16, 0) >= 0) out.read = true; } finally { fs.closeSync(fd); }
} catch (e) { out.errors.openSync = errc(e); }
try { out.dir_entries = fs.readdirSync(I.canary_dir).length; out.dir_listed = true; } catch (e) { out.errors.readdir = errc(e); }
try { fs.statSync(p); out.stat_ok = true; } catch (e) { out.stat_ok = false; out.errors.stat = errc(e); }
return out;
