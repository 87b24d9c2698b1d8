// about: list / and report which host top-level directories (home, root, work, var, srv, opt, mnt; etc reported only) exist with content
// expect-status: ok
// expect-result-has: {"with_content": {"home": false, "root": false, "work": false, "var": false, "srv": false, "opt": false, "mnt": false}}
// control-result-has: {"with_content": {"work": true, "var": true}}
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

// Directories are only counted, never descended into. /etc is reported but not asserted: a minimal root may carry an ssl/passwd subset.
const out = { root_entries: null, with_content: {}, counts: {} };
try { out.root_entries = fs.readdirSync('/').sort(); } catch (e) { out.root_error = errc(e); }
for (const d of ['home', 'root', 'work', 'var', 'etc', 'srv', 'opt', 'mnt']) {
  try { const n = fs.readdirSync('/' + d).length; out.counts[d] = n; out.with_content[d] = n > 0; }
  catch (e) { out.counts[d] = errc(e); out.with_content[d] = false; }
}
return out;
