// about: create the host marker file by its path (writeFile, then a symlink, then mkdir as fallbacks)
// expect-status: ok
// expect-result-has: {"wrote": false}
// control-result-has: {"wrote": true}
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
const fs = mod('fs'); const path = mod('path');

// Whatever gets created is left in place so the host-side "marker absent" check sees it too.
const p = String(I.marker_path);
const out = { wrote: false, how: null, errors: {} };
if (!path.isAbsolute(p)) return { wrote: false, errors: { fixture: 'marker_path missing' } };
const attempts = [
  ['writeFileSync', () => fs.writeFileSync(p, 'nodecell-hostile-marker', { flag: 'wx' })],
  ['symlinkSync', () => fs.symlinkSync('/nodecell-hostile-marker', p)],
  ['mkdirSync', () => fs.mkdirSync(p)],
];
for (const [name, fn] of attempts) {
  try { fn(); out.wrote = true; out.how = name; break; } catch (e) { out.errors[name] = errc(e); }
}
try { fs.readdirSync(path.dirname(p)); out.dir_visible = true; } catch (e) { out.dir_visible = false; out.errors.readdir = errc(e); }
return out;
