// about: TCP connect to tcp_port over IPv6 loopback: [::1] and the IPv4-mapped [::ffff:127.0.0.1] (which reaches the 127.0.0.1 listener)
// expect-status: ok
// expect-result-has: {"connected": false}
// control-result-has: {"connected": true}
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
const net = mod('net');

const tcpTry = (opts, ms = 500) => new Promise((resolve) => {
  let done = false, s, t;
  const fin = (r) => { if (done) return; done = true; clearTimeout(t); try { s && s.destroy(); } catch (_) {} resolve(r); };
  t = setTimeout(() => fin({ connected: false, error: 'TIMEOUT' }), ms);
  try {
    s = net.connect(opts);
    s.once('connect', () => fin({ connected: true }));
    s.once('error', (e) => fin({ connected: false, error: errc(e) }));
  } catch (e) { fin({ connected: false, error: errc(e) }); }
});
const port = Number(I.tcp_port);
const attempts = {};
for (const host of ['::1', '::ffff:127.0.0.1', '::ffff:7f00:1']) attempts[host] = await tcpTry({ host, port, family: 6 });
return { connected: Object.values(attempts).some((a) => a.connected), attempts };
