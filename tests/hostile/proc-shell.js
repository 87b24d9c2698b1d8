// about: run a shell: child_process.exec('id') (/bin/sh -c), spawnSync('/bin/sh'), execFileSync('/usr/bin/id')
// expect-status: ok
// expect-result-has: {"spawned": false}
// control: skip the runner removes process.getBuiltinModule/binding and does not allowlist child_process, so it is unreachable from jobs even unsandboxed; kept as defence in depth against a runner regression
// limits: {"timeout_ms": 8000, "memory_mib": 128}
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
const cp = mod('child_process');

const out = { spawned: false, child_process_available: !!cp, attempts: {} };
out.attempts.exec = await new Promise((resolve) => {
  try {
    cp.exec('id', { timeout: 2000 }, (e, stdout) => {
      if (!e && /uid=/.test(stdout)) { out.spawned = true; resolve({ ok: true, id: String(stdout).trim().slice(0, 200) }); }
      else resolve({ ok: false, error: errc(e) });
    });
  } catch (e) { resolve({ ok: false, error: errc(e) }); }
});
try {
  const r = cp.spawnSync('/bin/sh', ['-c', 'echo nodecell-shell-ran'], { timeout: 2000 });
  const ran = r.status === 0 && String(r.stdout).includes('nodecell-shell-ran');
  if (ran) out.spawned = true;
  out.attempts.spawnSync = { ok: ran, status: r.status, error: r.error ? errc(r.error) : null };
} catch (e) { out.attempts.spawnSync = { ok: false, error: errc(e) }; }
try {
  const s = cp.execFileSync('/usr/bin/id', [], { timeout: 2000 }).toString();
  if (/uid=/.test(s)) out.spawned = true;
  out.attempts.execFileSync = { ok: true };
} catch (e) { out.attempts.execFileSync = { ok: false, error: errc(e) }; }
return out;
