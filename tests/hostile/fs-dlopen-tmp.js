// about: copy a real shared library into /tmp as evil.node and process.dlopen it (noexec /tmp or --no-addons must stop the native load)
// expect-status: ok
// expect-result-has: {"loaded": false}
// control-result-has: {"copied": true, "loaded": true}
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

// Pick a tiny library that is harmless to map twice (glibc's libdl/libpthread stubs first). "Module did not
// self-register" means the ELF was mapped executable and its constructors ran: that is the native load we test for.
const prefer = ['libdl.so.2', 'libpthread.so.0', 'librt.so.1', 'libutil.so.1', 'libgcc_s.so.1', 'libm.so.6'];
const candidates = [];
try {
  for (const l of fs.readFileSync('/proc/self/maps', 'utf8').split('\n')) { const p = l.trim().split(/\s+/)[5]; if (p && p.startsWith('/')) candidates.push(p); }
} catch (_) {}
for (const d of ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/lib64', '/usr/lib64', '/lib', '/usr/lib']) {
  for (const n of prefer) candidates.push(path.join(d, n));
}
let src = null;
for (const n of prefer) { src = candidates.find((c) => { try { return path.basename(c) === n && fs.existsSync(c); } catch (_) { return false; } }); if (src) break; }
const out = { source: src, copied: false, loaded: false, dlopen_available: typeof process.dlopen === 'function', errors: {} };
if (!src) { out.errors.source = 'no library found'; return out; }
let dir = null;
try {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodecell-hostile-dl-'));
  const f = path.join(dir, 'evil.node');
  fs.copyFileSync(src, f);
  fs.chmodSync(f, 0o755);
  out.copied = true;
  try { process.dlopen({ exports: {} }, f); out.loaded = true; }
  catch (e) {
    const msg = String(e && e.message).replace(dir, '<tmp>').slice(0, 200);
    out.dlopen_error = errc(e); out.dlopen_message = msg;
    if (/self-register/i.test(msg)) out.loaded = true;
  }
} catch (e) { out.errors.setup = errc(e); }
finally { if (dir) { try { fs.rmSync(dir, { recursive: true, force: true }); } catch (_) {} } }
return out;
