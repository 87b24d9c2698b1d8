// about: hardlink the host canary into /tmp (falling back to a fresh name in canary_dir on EXDEV) and read it through the link
// expect-status: ok
// expect-result-has: {"linked": false, "read": false}
// control-result-has: {"linked": true, "read": true}
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
const fs = mod('fs'); const os = mod('os') || { tmpdir: () => '/tmp' }; const path = mod('path'); const crypto = mod('crypto');

const out = { linked: false, read: false, errors: {} };
const created = [];
let dir = null;
try {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodecell-hostile-hl-'));
  const targets = [path.join(dir, 'hl'), path.join(String(I.canary_dir), '.nodecell-hl-' + crypto.randomBytes(6).toString('hex'))];
  for (const t of targets) {
    try { fs.linkSync(I.canary_path, t); created.push(t); out.linked = true; out.linked_into = t === targets[0] ? 'tmp' : 'canary_dir'; }
    catch (e) { out.errors[t === targets[0] ? 'link_tmp' : 'link_canary_dir'] = errc(e); continue; }
    try { fs.readFileSync(t); out.read = true; } catch (e) { out.errors.read = errc(e); }
    break;
  }
} catch (e) { out.errors.setup = errc(e); }
finally {
  for (const c of created) { try { fs.unlinkSync(c); } catch (_) {} }
  if (dir) { try { fs.rmSync(dir, { recursive: true, force: true }); } catch (_) {} }
}
return out;
