// about: read the host canary through /proc/1/root and the root of every other visible pid (/proc/<pid>/root, /proc/<pid>/cwd)
// expect-status: ok
// expect-result-has: {"read": false}
// control-result-has: {"read": true}
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

const out = { read: false, pid1: null, pids_tried: 0, read_via: [], errors: {} };
try { fs.readFileSync('/proc/1/root' + I.canary_path); out.pid1 = 'read'; out.read = true; out.read_via.push(1); }
catch (e) { out.pid1 = errc(e); }
let pids = [];
try { pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).slice(0, 500); } catch (e) { out.errors.proc = errc(e); }
for (const pid of pids) {
  out.pids_tried++;
  for (const via of ['root', 'cwd']) {
    const p = via === 'root' ? `/proc/${pid}/root${I.canary_path}` : `/proc/${pid}/cwd/../../../../../../../..${I.canary_path}`;
    try { fs.readFileSync(p); out.read = true; out.read_via.push(`${pid}/${via}`); } catch (e) { out.errors[via] = errc(e); }
  }
}
out.read_via = out.read_via.slice(0, 20);
return out;
