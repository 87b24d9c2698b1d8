// about: read /proc/net/unix looking for the host's sockets (the fixture's abstract name) and connect to well-known daemon sockets (docker, containerd, dbus, systemd) - containerd CVE-2020-15257 style
// expect-status: ok
// expect-result-has: {"fixture_visible": false, "connected_any": false}
// control: skip would connect to host daemons' sockets, which are not fixtures
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
const fs = mod('fs'); const net = mod('net');

const out = { fixture_visible: false, connected_any: false, unix_table_entries: null, abstract_entries: null, connected: [], errors: {} };
try {
  const rows = fs.readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1).filter(Boolean);
  const paths = rows.map((r) => r.trim().split(/\s+/)[7]).filter(Boolean);
  out.unix_table_entries = rows.length;
  out.abstract_entries = paths.filter((p) => p.startsWith('@')).length;
  out.fixture_visible = paths.includes('@' + String(I.abstract_socket_name)) || paths.includes(String(I.unix_socket_path));
} catch (e) { out.errors.proc_net_unix = errc(e); }
const tryConnect = (path, ms = 300) => new Promise((resolve) => {
  let done = false, s, t;
  const fin = (r) => { if (done) return; done = true; clearTimeout(t); try { s && s.destroy(); } catch (_) {} resolve(r); };
  t = setTimeout(() => fin(false), ms);
  try { s = net.connect({ path }); s.once('connect', () => fin(true)); s.once('error', (e) => { out.errors[path] = errc(e); fin(false); }); } catch (e) { fin(false); }
});
// Connect and close at once; nothing is sent.
const wellKnown = ['/var/run/docker.sock', '/run/docker.sock', '/run/containerd/containerd.sock', '/run/dbus/system_bus_socket',
  '/var/run/dbus/system_bus_socket', '/run/systemd/private', '/run/systemd/notify', '/run/user/0/bus', '/var/run/nscd/socket', '/tmp/.X11-unix/X0', '/run/podman/podman.sock'];
for (const p of wellKnown) { if (await tryConnect(p)) { out.connected_any = true; out.connected.push(p); } }
return out;
