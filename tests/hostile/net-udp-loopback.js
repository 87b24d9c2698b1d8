// about: send UDP datagrams to the host socket at 127.0.0.1:udp_port (containment is asserted host-side: no datagram may arrive)
// expect-status: ok
// control: skip the runner removes process.getBuiltinModule/binding and does not allowlist dgram, so it is unreachable from jobs even unsandboxed; kept as defence in depth against a runner regression
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
const dgram = mod('dgram');

// "sent" may legitimately be true inside a private network namespace (the datagram goes to the sandbox's own lo),
// so it is not asserted; the harness checks that the host socket received nothing.
const port = Number(I.udp_port);
const sendOne = (type, host) => new Promise((resolve) => {
  let s, t;
  const fin = (r) => { clearTimeout(t); try { s && s.close(); } catch (_) {} resolve(r); };
  t = setTimeout(() => fin({ sent: false, error: 'TIMEOUT' }), 500);
  try {
    s = dgram.createSocket(type);
    s.on('error', (e) => fin({ sent: false, error: errc(e) }));
    s.send(Buffer.from('nodecell-hostile-udp'), port, host, (e) => fin(e ? { sent: false, error: errc(e) } : { sent: true }));
  } catch (e) { fin({ sent: false, error: errc(e) }); }
});
const attempts = { '127.0.0.1': await sendOne('udp4', '127.0.0.1'), '2130706433': await sendOne('udp4', '2130706433'), '::ffff:127.0.0.1': await sendOne('udp6', '::ffff:127.0.0.1') };
return { sent: Object.values(attempts).some((a) => a.sent), dgram_available: !!dgram, attempts };
