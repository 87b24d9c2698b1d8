// about: create (then delete) a file in /, /usr, /usr/bin, /usr/lib, /lib, /bin, /etc, /var, /opt, /root, /home and the node binary's directory; /dev/shm and /var/tmp reported separately
// expect-status: ok
// expect-result-has: {"wrote": false}
// control: skip creates files in host system directories (removed again, but outside the fixture paths)
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
const fs = mod('fs'); const path = mod('path'); const crypto = mod('crypto');

const name = '.nodecell-hostile-' + crypto.randomBytes(6).toString('hex');
const tryCreate = (d) => {
  const f = path.join(d, name);
  try { fs.writeFileSync(f, 'x', { flag: 'wx' }); try { fs.unlinkSync(f); } catch (_) {} return 'created'; }
  catch (e) { return errc(e); }
};
const out = { wrote: false, attempts: {}, shared: {} };
for (const d of new Set(['/', '/usr', '/usr/bin', '/usr/lib', '/lib', '/bin', '/etc', '/var', '/opt', '/root', '/home', path.dirname(process.execPath)])) {
  out.attempts[d] = tryCreate(d);
  if (out.attempts[d] === 'created') out.wrote = true;
}
// Writable /dev/shm or /var/tmp is fine if private to the job (tenant-state-markers checks for cross-run leaks).
for (const d of ['/dev/shm', '/var/tmp']) out.shared[d] = tryCreate(d);
return out;
