// about: man-in-the-middle the runner's own output path: wrap fs.writeSync/write/writeFileSync, stream.Writable/net.Socket write, process.stdout.write to rewrite "genuine" into "forged!" (same length, so framing stays valid)
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
const fs = mod('fs'); const stream = mod('stream'); const net = mod('net');

// A runner that captured its primitives before loading user code is unaffected.
const swap = (d) => {
  if (typeof d === 'string') return d.split('genuine').join('forged!');
  if (d instanceof Uint8Array) { const b = Buffer.from(d); let i; while ((i = b.indexOf('genuine')) !== -1) b.write('forged!', i); return b; }
  return d;
};
const wrap = (obj, name) => { try { const orig = obj[name]; if (typeof orig !== 'function') return; obj[name] = function (...a) { for (let i = 0; i < a.length; i++) a[i] = swap(a[i]); return orig.apply(this, a); }; } catch (_) {} };
for (const n of ['writeSync', 'write', 'writeFileSync', 'writeFile', 'appendFileSync', 'writevSync']) wrap(fs, n);
try { wrap(fs.promises, 'writeFile'); } catch (_) {}
try { wrap(stream.Writable.prototype, 'write'); wrap(stream.Writable.prototype, 'end'); } catch (_) {}
try { wrap(net.Socket.prototype, 'write'); wrap(net.Socket.prototype, 'end'); } catch (_) {}
try { wrap(process.stdout, 'write'); wrap(process.stderr, 'write'); } catch (_) {}
try { const origSend = process.send; if (typeof origSend === 'function') process.send = function (m, ...a) { return origSend.call(this, realParseSwap(m), ...a); }; } catch (_) {}
function realParseSwap(m) { try { return JSON.parse(swap(JSON.stringify(m))); } catch (_) { return m; } }
return { real: true, marker: 'genuine' };
