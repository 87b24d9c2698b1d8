// about: spawn process.execPath (node) as a child and have the child read the canary and reach tcp_port: whatever spawns must inherit the sandbox
// expect-status: ok
// expect-result-has: {"child_read_canary": false, "child_connected": false}
// control: skip the runner removes process.getBuiltinModule/binding and does not allowlist child_process, so it is unreachable from jobs even unsandboxed; kept as defence in depth against a runner regression
// limits: {"timeout_ms": 10000, "memory_mib": 256}
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
const cp = mod('child_process');

// Whether a child may start at all is policy (no-spawn vs pids.max), so "spawned" is reported, not asserted.
// The child prints only booleans, never the canary contents.
const child = `
const fs = require('fs'), net = require('net');
let read = false; try { fs.readFileSync(process.argv[1]); read = true; } catch (_) {}
const s = net.connect({ host: '127.0.0.1', port: Number(process.argv[2]) });
const fin = (c) => { try { s.destroy(); } catch (_) {} process.stdout.write(JSON.stringify({ read, connected: c })); process.exit(0); };
s.once('connect', () => fin(true)); s.once('error', () => fin(false)); setTimeout(() => fin(false), 700);
`;
const out = { spawned: false, child_read_canary: false, child_connected: false, child_process_available: !!cp };
try {
  const r = cp.spawnSync(process.execPath, ['-e', child, String(I.canary_path), String(I.tcp_port)], { timeout: 5000, env: {} });
  out.status = r.status; out.signal = r.signal; out.error = r.error ? errc(r.error) : null;
  const s = String(r.stdout || '');
  if (s.startsWith('{')) {
    out.spawned = true;
    try { const j = JSON.parse(s); out.child_read_canary = j.read === true; out.child_connected = j.connected === true; } catch (_) {}
  }
} catch (e) { out.error = errc(e); }
return out;
