// about: TCP connect to tcp_port through alternative loopback spellings: 2130706433, 0x7f000001, 0177.0.0.1, 127.1, 0x7f.1, 127.0.0.2, localhost (Deno GHSA-v8fw-85r8-5m23)
// expect-status: ok
// expect-result-has: {"connected": false}
// control-result-has: {"connected": true, "attempts": {"2130706433": {"connected": true}, "0x7f000001": {"connected": true}}}
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
// Non-canonical spellings go through dns.lookup -> getaddrinfo -> inet_aton, which needs no DNS server.
const port = Number(I.tcp_port);
const hosts = ['2130706433', '0x7f000001', '0177.0.0.1', '127.1', '0x7f.1', '127.0.0.2', 'localhost'];
const res = await Promise.all(hosts.map((h) => tcpTry({ host: h, port }, 700)));
const attempts = {};
hosts.forEach((h, i) => { attempts[h] = res[i]; });
return { connected: res.some((r) => r.connected), attempts };
