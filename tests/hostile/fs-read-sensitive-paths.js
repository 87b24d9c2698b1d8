// about: read classic host secrets: /etc/shadow, /etc/gshadow, /root/.ssh, SSH host keys, kubernetes service-account token, cloud/docker credentials
// expect-status: ok
// expect-result-has: {"any_read": false, "shadow_read": false, "root_ssh_listed": false, "k8s_token_read": false}
// control-result-has: {"shadow_read": true, "any_read": true}
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

// Contents are never returned, only whether they could be read.
// open + read 64 bytes rather than readFileSync: /proc/kcore reports a size of many TB.
const tryRead = (p) => { try { const fd = fs.openSync(p, 'r'); try { fs.readSync(fd, Buffer.alloc(64), 0, 64, null); } finally { fs.closeSync(fd); } return 'read'; } catch (e) { return errc(e); } };
const tryList = (p) => { try { return 'listed:' + fs.readdirSync(p).length; } catch (e) { return errc(e); } };
const files = [
  '/etc/shadow', '/etc/gshadow', '/etc/sudoers',
  '/etc/ssh/ssh_host_ed25519_key', '/etc/ssh/ssh_host_rsa_key', '/etc/ssh/ssh_host_ecdsa_key',
  '/root/.ssh/id_rsa', '/root/.ssh/id_ed25519', '/root/.ssh/authorized_keys',
  '/root/.bash_history', '/root/.docker/config.json', '/root/.aws/credentials', '/root/.npmrc', '/root/.config/gcloud/credentials.db',
  '/var/run/secrets/kubernetes.io/serviceaccount/token', '/run/secrets/kubernetes.io/serviceaccount/token',
  '/proc/kcore', '/proc/kallsyms',
];
const attempts = {};
for (const f of files) attempts[f] = tryRead(f);
// /proc/kallsyms is world-readable everywhere (addresses are zeroed for non-root), so it does not count as a secret.
const secretFiles = files.filter((f) => f !== '/proc/kallsyms');
const dirs = { '/root/.ssh': tryList('/root/.ssh'), '/var/run/secrets/kubernetes.io': tryList('/var/run/secrets/kubernetes.io'), '/run/secrets': tryList('/run/secrets') };
return {
  any_read: secretFiles.some((f) => attempts[f] === 'read'),
  shadow_read: attempts['/etc/shadow'] === 'read',
  root_ssh_listed: dirs['/root/.ssh'].startsWith('listed:'),
  k8s_token_read: attempts['/var/run/secrets/kubernetes.io/serviceaccount/token'] === 'read' || attempts['/run/secrets/kubernetes.io/serviceaccount/token'] === 'read',
  attempts, dirs,
};
