// about: read /proc/self/environ, /proc/1/environ (bwrap pid-1 launcher leak) and every other visible /proc/<pid>/environ looking for the host's secret variable
// expect-status: ok
// expect-result-has: {"self_leaked": false, "pid1_leaked": false, "any_leaked": false}
// control-result-has: {"self_leaked": true, "any_leaked": true}
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

// Only variable NAMES are inspected and returned; values are never put in the result.
const needle = String(I.env_secret_name) + '=';
const scan = (pid) => {
  try {
    const vars = fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').filter(Boolean);
    return { read: true, count: vars.length, leaked: vars.some((v) => v.startsWith(needle)), node_extra_ca_certs: vars.some((v) => v.startsWith('NODE_EXTRA_CA_CERTS=')) };
  } catch (e) { return { read: false, error: errc(e) }; }
};
const self = scan('self');
const pid1 = scan(1);
const out = { self_leaked: !!self.leaked, pid1_leaked: !!pid1.leaked, any_leaked: !!(self.leaked || pid1.leaked), self, pid1, others_read: 0, others_leaked: [] };
let pids = [];
try { pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).slice(0, 500); } catch (e) { out.proc_error = errc(e); }
out.visible_pids = pids.length;
for (const pid of pids) {
  const r = scan(pid);
  if (r.read) out.others_read++;
  if (r.leaked) { out.any_leaked = true; if (out.others_leaked.length < 10) out.others_leaked.push(Number(pid)); }
}
return out;
