// about: open TCP servers on 127.0.0.1:0 and [::1]:0 and report whether they listened and on which ports (fine inside a private netns; a neighbour must not reach them)
// expect-status: ok
// control-result-has: {"listened": true}
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
const net = mod('net');

// Without net.createServer (runner allowlist), fall back to the raw libuv TCP wrap: a client socket creates one
// synchronously in connect() (destroyed again before any SYN is sent), and its constructor makes server handles.
const rawListen = (host) => {
  try {
    const s = new net.Socket();
    s.connect({ host: '127.0.0.1', port: 1 });
    const TCP = s._handle && s._handle.constructor;
    s.destroy();
    if (typeof TCP !== 'function') return { listened: false, error: 'no TCP wrap' };
    const h = new TCP(1); // TCPConstants.SERVER
    h.onconnection = () => {};
    const e1 = host.includes(':') ? h.bind6(host, 0, 0) : h.bind(host, 0);
    const e2 = e1 ? e1 : h.listen(16);
    const addr = {};
    if (!e2) h.getsockname(addr);
    h.close();
    return e2 ? { listened: false, error: 'uv ' + e2, raw: true } : { listened: true, port: addr.port, raw: true };
  } catch (e) { return { listened: false, error: errc(e), raw: true }; }
};
const listenOn = (host) => new Promise((resolve) => {
  if (!net || typeof net.createServer !== 'function') { resolve(net && net.Socket ? rawListen(host) : { listened: false, error: 'net unavailable' }); return; }
  let t;
  try {
    const srv = net.createServer((c) => c.destroy());
    t = setTimeout(() => { try { srv.close(); } catch (_) {} resolve({ listened: false, error: 'TIMEOUT' }); }, 500);
    srv.once('error', (e) => { clearTimeout(t); resolve({ listened: false, error: errc(e) }); });
    srv.listen(0, host, () => { clearTimeout(t); const port = srv.address().port; srv.close(); resolve({ listened: true, port }); });
  } catch (e) { clearTimeout(t); resolve({ listened: false, error: errc(e) }); }
});
const attempts = {};
for (const h of ['127.0.0.1', '::1']) attempts[h] = await listenOn(h);
return { listened: Object.values(attempts).some((a) => a.listened), attempts };
