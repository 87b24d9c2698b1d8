// about: read /etc/passwd and /etc/group and report whether they are the host's (Debian system accounts present) rather than a minimal sandbox copy
// expect-status: ok
// expect-result-has: {"leaked": false}
// control-result-has: {"leaked": true}
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

// A minimal sandbox root may carry root/nobody (and a service user); any stock Debian system account means the host file is visible.
const hostOnly = new Set(['daemon', 'bin', 'sys', 'sync', 'games', 'man', 'lp', 'mail', 'news', 'uucp', 'proxy', 'www-data', 'backup', 'list', 'irc', 'gnats', '_apt', 'messagebus', 'sshd', 'systemd-network', 'systemd-resolve', 'systemd-timesync', 'polkitd', 'ntp', 'postfix']);
const out = { leaked: false };
for (const f of ['/etc/passwd', '/etc/group']) {
  const key = f.slice(5);
  try {
    const names = fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => l.split(':')[0]);
    const host = names.filter((n) => hostOnly.has(n));
    out[key] = { read: true, entries: names.length, host_accounts: host.slice(0, 10) };
    if (host.length > 0) out.leaked = true;
  } catch (e) { out[key] = { read: false, error: errc(e) }; }
}
return out;
