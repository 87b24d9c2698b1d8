// about: HTTP to the host listener via fetch('http://127.0.0.1:tcp_port') and http.get, plus the 2130706433 URL spelling (WHATWG URL normalises it)
// expect-status: ok
// expect-result-has: {"connected": false}
// control-result-has: {"connected": true}
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
const http = mod('http');

// Connection is observed directly: undici's diagnostics_channel 'undici:client:connected' for fetch, the socket's
// 'connect' event for http.get, or a response. A timeout alone never counts as connected.
const dc = mod('diagnostics_channel');
let undiciConnected = 0;
const onConnected = () => { undiciConnected++; };
try { dc.subscribe('undici:client:connected', onConnected); } catch (_) {}
const keepAlive = setInterval(() => {}, 1000); // AbortSignal.timeout timers are unref'd
const port = Number(I.tcp_port);
const attempts = {};
for (const url of [`http://127.0.0.1:${port}/`, `http://2130706433:${port}/`]) {
  const before = undiciConnected;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    attempts['fetch ' + url] = { connected: true, status: res.status };
    try { await res.body?.cancel(); } catch (_) {}
  } catch (e) {
    const c = e && e.cause;
    const code = (c && c.code) || (e && e.name) || String(e);
    // UND_ERR_SOCKET ("other side closed") can only happen on an established connection.
    attempts['fetch ' + url] = { connected: undiciConnected > before || code === 'UND_ERR_SOCKET', error: String(code) };
  }
}
try { dc.unsubscribe('undici:client:connected', onConnected); } catch (_) {}
attempts['http.get'] = await new Promise((resolve) => {
  let done = false, req, t, sawConnect = false;
  const fin = (r) => { if (done) return; done = true; clearTimeout(t); try { req && req.destroy(); } catch (_) {} resolve(r); };
  t = setTimeout(() => fin({ connected: sawConnect, error: 'TIMEOUT' }), 1000);
  try {
    req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => fin({ connected: true, status: res.statusCode }));
    req.on('socket', (s) => s.once('connect', () => { sawConnect = true; fin({ connected: true }); }));
    req.on('error', (e) => fin({ connected: sawConnect, error: errc(e) }));
  } catch (e) { fin({ connected: false, error: errc(e) }); }
});
clearInterval(keepAlive);
return { connected: Object.values(attempts).some((a) => a.connected), attempts };
