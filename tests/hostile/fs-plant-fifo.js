// about: plant FIFOs (if any mkfifo binary exists) and listening unix sockets at result/output-like names in /tmp and the cwd, then return; the host must never block on them
// expect-status: ok
// control: skip would leave FIFOs/sockets in the host's /tmp and cwd
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
const fs = mod('fs'); const os = mod('os') || { tmpdir: () => '/tmp' }; const path = mod('path'); const cp = mod('child_process'); const net = mod('net');

// Node has no mkfifo(2) binding, so without a mkfifo binary in the sandbox only the socket variant can be planted.
const out = { fifo_created: false, sockets_planted: 0, planted: [], errors: {} };
const dirs = [...new Set(['/tmp', os.tmpdir(), process.cwd()])].filter((d) => d !== '/');
const fifoNames = ['result', 'result.json', 'outcome.json', 'out.fifo'];
const sockNames = ['output', 'stdout', 'stderr', 'result.sock'];
for (const d of dirs) {
  for (const n of fifoNames) {
    const p = path.join(d, n);
    for (const bin of ['mkfifo', '/usr/bin/mkfifo', '/bin/mkfifo', '/bin/busybox']) {
      try {
        const args = bin.endsWith('busybox') ? ['mkfifo', p] : [p];
        cp.spawnSync(bin, args, { timeout: 1000, stdio: 'ignore' });
        if (fs.lstatSync(p).isFIFO()) { out.fifo_created = true; out.planted.push('fifo:' + p); break; }
      } catch (e) { out.errors.mkfifo = errc(e); }
    }
  }
  for (const n of sockNames) {
    const p = path.join(d, n);
    const r = await new Promise((resolve) => {
      try {
        if (net && typeof net.createServer === 'function') {
          const srv = net.createServer();
          const t = setTimeout(() => resolve('timeout'), 300);
          srv.once('error', (e) => { clearTimeout(t); resolve(errc(e)); });
          srv.listen(p, () => { clearTimeout(t); srv.unref(); resolve('listening'); });
        } else if (net && net.Socket) {
          // Raw libuv Pipe wrap, taken from a client socket's handle (created synchronously by connect()).
          const c = new net.Socket(); c.on('error', () => {}); c.connect({ path: '/nonexistent-nodecell' });
          const Pipe = c._handle && c._handle.constructor; c.destroy();
          const h = new Pipe(1); // PipeConstants.SERVER
          h.onconnection = () => {};
          const e = h.bind(p) || h.listen(16);
          if (typeof h.unref === 'function') h.unref();
          resolve(e ? 'uv ' + e : 'listening');
        } else resolve('net unavailable');
      } catch (e) { resolve(errc(e)); }
    });
    if (r === 'listening') { out.sockets_planted++; out.planted.push('socket:' + p); } else out.errors.socket = r;
  }
}
return out;
