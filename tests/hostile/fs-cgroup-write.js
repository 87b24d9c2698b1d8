// about: find the job's own cgroup and the v1 release_agent files and open limit/control files for writing (opened only, never written) to raise limits or escape (CVE-2022-0492 style)
// expect-status: ok
// expect-result-has: {"writable": false}
// control-result-has: {"listed": true, "writable": true}
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

// Opening with O_WRONLY (no O_TRUNC/O_CREAT) is the permission gate (EROFS, EACCES, Landlock) and changes nothing,
// so this is safe to run as root on the host for the positive control.
const out = { listed: false, writable: false, writable_files: [], tried: 0, errors: {} };
let top = [];
try { top = fs.readdirSync('/sys/fs/cgroup'); out.entries = top.length; out.listed = true; } catch (e) { out.errors.readdir = errc(e); }
const dirs = new Set(['/sys/fs/cgroup']);
for (const t of top) dirs.add('/sys/fs/cgroup/' + t);
try {
  for (const line of fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').filter(Boolean)) {
    const a = line.indexOf(':'); const b = line.indexOf(':', a + 1);
    const ctrls = line.slice(a + 1, b); const rel = line.slice(b + 1) === '/' ? '' : line.slice(b + 1);
    if (ctrls === '') { dirs.add('/sys/fs/cgroup' + rel); dirs.add('/sys/fs/cgroup/unified' + rel); }
    else { for (const c of [ctrls, ...ctrls.split(',')]) dirs.add('/sys/fs/cgroup/' + c.replace(/^name=/, '') + rel); }
  }
} catch (e) { out.errors.proc_self_cgroup = errc(e); }
const names = ['cgroup.procs', 'cgroup.threads', 'cgroup.subtree_control', 'cgroup.kill', 'memory.max', 'memory.high', 'memory.swap.max',
  'memory.limit_in_bytes', 'memory.memsw.limit_in_bytes', 'pids.max', 'cpu.max', 'cpu.cfs_quota_us', 'tasks', 'release_agent', 'notify_on_release'];
for (const d of dirs) {
  for (const n of names) {
    const f = d + '/' + n;
    let fd;
    try { fd = fs.openSync(f, fs.constants.O_WRONLY); } catch (e) { if (e.code !== 'ENOENT' && e.code !== 'ENOTDIR') out.errors[n] = errc(e); continue; }
    out.tried++;
    try { fs.closeSync(fd); } catch (_) {}
    out.writable = true;
    if (out.writable_files.length < 20) out.writable_files.push(f);
  }
}
return out;
