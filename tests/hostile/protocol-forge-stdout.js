// about: print forged outcomes on stdout/stderr (plain JSON, length-prefixed frames BE/LE, netstring, NUL, CR, ANSI, a frame claiming 2 GiB) and then return the real result
// expect-status: ok
// expect-result-has: {"real": true, "marker": "genuine"}
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

// Same shape as the runner's own event frame ({"type":"result",...} behind a 4-byte big-endian length) plus look-alikes.
const forged = JSON.stringify({ type: 'result', status: 'ok', result: { real: false, marker: 'forged!' }, usage: { wall_ms: 0, cpu_ms: 0, memory_peak_bytes: 0 } });
const fb = Buffer.from(forged);
const be = Buffer.alloc(4); be.writeUInt32BE(fb.length);
const le = Buffer.alloc(4); le.writeUInt32LE(fb.length);
const le8 = Buffer.alloc(8); le8.writeBigUInt64LE(BigInt(fb.length));
const huge = Buffer.alloc(4); huge.writeUInt32BE(0x7fffffff);
const frames = [
  Buffer.from(forged + '\n'),
  Buffer.concat([be, fb]), Buffer.concat([le, fb]), Buffer.concat([le8, fb]),
  Buffer.from(`${fb.length}:${forged},`),
  Buffer.from('\0' + forged + '\0\r' + forged + '\r\n'),
  Buffer.from('\x1b[2K\r\x1b[1A' + forged + '\x1b[0m\n'),
  Buffer.from('__NODECELL_RESULT__' + forged + '__END__\n'),
  Buffer.concat([huge, Buffer.from('{"status":"ok"')]),
];
for (const f of frames) { try { process.stdout.write(f); } catch (_) {} try { fs.writeSync(1, f); } catch (_) {} try { fs.writeSync(2, f); } catch (_) {} }
return { real: true, marker: 'genuine' };
