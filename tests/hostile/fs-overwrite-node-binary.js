// about: prepare to replace process.execPath: open it for writing and create+rename a sibling next to it (the sibling is deleted, the binary never touched)
// expect-status: ok
// expect-result-has: {"wrote": false}
// control: skip the proof creates and deletes a file next to the host's node binary, outside the fixture paths
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
const fs = mod('fs'); const path = mod('path'); const crypto = mod('crypto');

// Non-destructive proof: being able to create and rename within the binary's directory is all a rename-over needs,
// and O_WRONLY without O_TRUNC does not modify the binary (ETXTBSY is expected for a running executable anyway).
const out = { wrote: false, exec_path: process.execPath, errors: {} };
try { const fd = fs.openSync(process.execPath, fs.constants.O_WRONLY); fs.closeSync(fd); out.opened_for_write = true; out.wrote = true; }
catch (e) { out.opened_for_write = false; out.errors.open = errc(e); }
const dir = path.dirname(process.execPath);
const a = path.join(dir, '.nodecell-hostile-' + crypto.randomBytes(6).toString('hex'));
const b = a + '-renamed';
try {
  fs.writeFileSync(a, '#!/bin/sh\n', { flag: 'wx', mode: 0o755 });
  out.created_sibling = true; out.wrote = true;
  try { fs.renameSync(a, b); out.renamed_sibling = true; } catch (e) { out.errors.rename = errc(e); }
} catch (e) { out.created_sibling = false; out.errors.create = errc(e); }
finally { for (const f of [a, b]) { try { fs.unlinkSync(f); } catch (_) {} } }
try { fs.chmodSync(process.execPath, fs.statSync(process.execPath).mode & 0o7777); out.chmod_ok = true; out.wrote = true; } catch (e) { out.chmod_ok = false; out.errors.chmod = errc(e); }
return out;
