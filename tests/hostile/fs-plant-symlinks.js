// about: plant symlinks at result/output-like names in /tmp and the cwd pointing at the canary, /etc/shadow, /dev/zero, /proc/1/environ and / (Judge0 CVE-2024-28185); host must not follow them
// expect-status: ok
// control: skip would leave symlinks in the host's /tmp and cwd
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
const fs = mod('fs'); const os = mod('os') || { tmpdir: () => '/tmp' }; const path = mod('path');

// Left in place on purpose: the host-side checks (canary unchanged, no hang, no leak into the outcome) are the test.
const links = {
  'result.json': String(I.canary_path), 'outcome.json': '/proc/1/environ', 'code.js': String(I.canary_path), 'inputs.json': '/etc/shadow',
  stdout: '/dev/zero', stderr: '/dev/zero', output: '/etc/shadow', out: '/', 'runner.js': String(I.runner_dir_host) + '/runner.js',
};
const out = { planted: 0, paths: [], errors: {} };
for (const d of [...new Set(['/tmp', os.tmpdir(), process.cwd()])].filter((x) => x !== '/')) {
  for (const [n, target] of Object.entries(links)) {
    const p = path.join(d, n);
    try { fs.symlinkSync(target, p); out.planted++; if (out.paths.length < 30) out.paths.push(p); } catch (e) { out.errors[n] = errc(e); }
  }
}
return out;
