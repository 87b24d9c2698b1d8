// about: look for a marker left in /tmp by a previous run, then leave one: every run must get a fresh /tmp, so even repeated runs of this case see nothing
// expect-status: ok
// expect-result-has: {"seen_before": false}
// control: skip would leave a marker in the host's /tmp (and a second control run would rightly see it)
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
const fs = mod('fs'); const crypto = mod('crypto');

const p = '/tmp/nodecell-tenant-marker';
const out = { seen_before: false, wrote: false };
try { out.previous = fs.readFileSync(p, 'utf8').slice(0, 64); out.seen_before = true; } catch (e) { out.read_error = errc(e); }
try { fs.writeFileSync(p, 'run-' + crypto.randomUUID()); out.wrote = true; } catch (e) { out.write_error = errc(e); }
return out;
