// about: introspect /proc/self/task/*/status: every thread should show Seccomp 2, NoNewPrivs 1 and no effective capabilities (Firecracker-style check)
// expect-status: ok
// expect-result-has: {"unconfined_thread_seen": false, "caps_seen": false}
// control-result-has: {"proc_available": true, "unconfined_thread_seen": true, "caps_seen": true}
// limits: {"timeout_ms": 5000, "memory_mib": 128}
// gvisor-exception: gVisor's /proc/<pid>/status has no NoNewPrivs line (the flag exists in its Sentry; the launcher sets it and reports it), so there only seccomp and capabilities can be seen per thread
// gvisor-expect-result-has: {"proc_available": true, "seccomp_missing_seen": false, "caps_seen": false}
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

// Without /proc nothing can be observed, so both facts stay false (negative evidence only); proc_available says which.
const out = { proc_available: false, unconfined_thread_seen: false, seccomp_missing_seen: false, caps_seen: false, threads: [] };
let tids = [];
try { tids = fs.readdirSync('/proc/self/task'); out.proc_available = true; } catch (e) { out.error = errc(e); }
for (const tid of tids) {
  try {
    const f = {};
    for (const l of fs.readFileSync(`/proc/self/task/${tid}/status`, 'utf8').split('\n')) { const i = l.indexOf(':'); if (i > 0) f[l.slice(0, i)] = l.slice(i + 1).trim(); }
    const t = { name: f.Name, seccomp: f.Seccomp, nnp: f.NoNewPrivs, cap_eff: f.CapEff, uid: f.Uid };
    if (t.seccomp !== '2' || t.nnp !== '1') out.unconfined_thread_seen = true;
    if (t.seccomp !== '2') out.seccomp_missing_seen = true;
    if (t.cap_eff && !/^0+$/.test(t.cap_eff)) out.caps_seen = true;
    out.threads.push(t);
  } catch (e) { out.threads.push({ tid, error: errc(e) }); }
}
try { out.uid_map = fs.readFileSync('/proc/self/uid_map', 'utf8').trim().split('\n').slice(0, 3); } catch (_) {}
return out;
