// about: re-open inherited fds 0..20 through /proc/self/fd/N for writing (O_WRONLY|O_NONBLOCK, closed unwritten); reopening a regular file or dir behind fd>=3 must fail (Landlock proc_unlinked_file)
// expect-status: ok
// expect-result-has: {"regular_reopened": false}
// control: skip depends on which fds the runner passes; nothing host-owned is passed in the control
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

const kind = (st) => st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isFIFO() ? 'fifo' : st.isSocket() ? 'socket' : st.isCharacterDevice() ? 'chr' : st.isBlockDevice() ? 'blk' : 'other';
const out = { regular_reopened: false, fds: {} };
for (let fd = 0; fd <= 20; fd++) {
  let st;
  try { st = fs.fstatSync(fd); } catch (_) { continue; }
  const info = { type: kind(st) };
  try { info.target = fs.readlinkSync(`/proc/self/fd/${fd}`).slice(0, 120); } catch (e) { info.target = errc(e); }
  try {
    const nfd = fs.openSync(`/proc/self/fd/${fd}`, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    fs.closeSync(nfd);
    info.reopened = true;
    if (fd >= 3 && (info.type === 'file' || info.type === 'dir' || info.type === 'blk')) out.regular_reopened = true;
  } catch (e) { info.reopened = false; info.error = errc(e); }
  out.fds[fd] = info;
}
return out;
