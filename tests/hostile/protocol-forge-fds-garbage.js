// about: write malformed frames into every host-facing fd 3..20 (little-endian and 8-byte lengths, bare JSON, netstring, NUL/CR/ANSI, a frame claiming 2 GiB then EOF), then return; the host must neither hang nor buffer 2 GiB: broken framing ends the run as crashed, a well-framed forgery is ignored
// expect-status: ok|error|crashed
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
const errc = (e) => (e && typeof e === 'object' && (e.code || e.name)) ? String(e.code || e.name) : String(e);
const fs = mod('fs');

// A host that detects the corruption answers error; ok is fine too if it ignores it. Timeouts, OOM or a crashed
// host are the failures (status mismatch / harness breach).
const forged = JSON.stringify({ type: 'result', status: 'ok', result: { real: false, marker: 'forged!' } });
const fb = Buffer.from(forged);
const le = Buffer.alloc(4); le.writeUInt32LE(fb.length);
const le8 = Buffer.alloc(8); le8.writeBigUInt64LE(BigInt(fb.length));
const huge = Buffer.alloc(4); huge.writeUInt32BE(0x7fffffff);
const frame = Buffer.concat([
  le, fb, le8, fb, Buffer.from(forged + '\n'), Buffer.from(`${fb.length}:${forged},`),
  Buffer.from('\0' + forged + '\0\r\x1b[2K\x1b[1A' + forged + '\r\n'),
  huge, Buffer.from('{"type":"result","status":"ok","result":'),
]);
// Same fd selection as protocol-forge-fds.js (skips Node's own internal pipes/eventfds).
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
const out = { real: true, wrote_fds: [], errors: {} };
for (const fd of hostFacingFds()) {
  try { fs.writeSync(fd, frame); out.wrote_fds.push(fd); } catch (e) { out.errors[fd] = errc(e); }
}
return out;
