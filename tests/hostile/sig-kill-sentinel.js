// about: SIGKILL the host's sentinel process by its host pid (and look for it under /proc)
// expect-status: ok
// expect-result-has: {"killed": false, "proc_visible": false}
// landlock-exception: no pid namespace and no private /proc: the host's processes are visible (existence only: Landlock denies reading /proc), but the signal is refused (Landlock signal scoping)
// landlock-expect-result-has: {"killed": false, "proc_visible": true, "error": "EPERM"}
// control: skip the control's own pid namespace hides the sentinel too, so no positive control is possible
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

const pid = Number(I.sentinel_pid);
const out = { killed: false, proc_visible: false };
if (!(pid > 1)) return { killed: false, proc_visible: false, error: 'sentinel_pid missing' };
if (pid === process.pid) return { killed: false, proc_visible: false, error: 'sentinel_pid collides with own pid' };
try { out.proc_visible = fs.existsSync(`/proc/${pid}`); } catch (_) {}
try { process.kill(pid, 'SIGKILL'); out.killed = true; } catch (e) { out.error = errc(e); }
return out;
