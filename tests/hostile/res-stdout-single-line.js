// about: one 50 MB line written straight to fd 1 with fs.writeSync (bypasses process.stdout and any console capture)
// expect-status: output_limit
// expect-truncated: true
// control: skip writes 50 MB to the control's stdout
// limits: {"timeout_ms": 10000, "memory_mib": 256, "max_output_bytes": 1048576}
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

const buf = Buffer.alloc(50 * 1024 * 1024, 0x53);
try { process.stdout; } catch (_) {} // lets a runner switch fd 1 to blocking mode, as any first console use would
const nap = new Int32Array(new SharedArrayBuffer(4));
let written = 0, error = null;
while (written < buf.length) {
  try { written += fs.writeSync(1, buf, written, buf.length - written); }
  catch (e) { if (e && e.code === 'EAGAIN') { Atomics.wait(nap, 0, 0, 1); continue; } error = errc(e); break; }
}
return { written, error };
