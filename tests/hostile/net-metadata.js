// about: reach cloud metadata endpoints by every spelling: 169.254.169.254, 2852039166, 0xa9fea9fe, 0251.0376.0251.0376, 169.254.43518, [::ffff:169.254.169.254], fd00:ec2::254, 100.100.100.200, metadata.google.internal
// expect-status: ok
// expect-result-has: {"connected": false}
// control: skip no metadata service is reachable from the dev hosts, so an unsandboxed run cannot show a connection
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
const net = mod('net');

const tcpTry = (opts, ms = 400) => new Promise((resolve) => {
  let done = false, s, t;
  const fin = (r) => { if (done) return; done = true; clearTimeout(t); try { s && s.destroy(); } catch (_) {} resolve(r); };
  t = setTimeout(() => fin({ connected: false, error: 'TIMEOUT' }), ms);
  try {
    s = net.connect(opts);
    s.once('connect', () => fin({ connected: true }));
    s.once('error', (e) => fin({ connected: false, error: errc(e) }));
  } catch (e) { fin({ connected: false, error: errc(e) }); }
});
const hosts = ['169.254.169.254', '2852039166', '0xa9fea9fe', '0251.0376.0251.0376', '169.254.43518', '::ffff:169.254.169.254', '::ffff:a9fe:a9fe', 'fd00:ec2::254', '100.100.100.200', 'metadata.google.internal'];
const res = await Promise.all(hosts.map((host) => tcpTry({ host, port: 80 })));
const attempts = {};
hosts.forEach((h, i) => { attempts[h] = res[i]; });
let fetched = null;
const keepAlive = setInterval(() => {}, 1000); // AbortSignal.timeout timers are unref'd
try { const r = await fetch('http://169.254.169.254/latest/meta-data/', { signal: AbortSignal.timeout(1500) }); fetched = { status: r.status }; } catch (e) { fetched = { error: errc(e.cause || e) }; }
clearInterval(keepAlive);
return { connected: res.some((r) => r.connected) || (fetched && 'status' in fetched), attempts, fetch: fetched };
