// about: start the V8 inspector with process.kill(process.pid, 'SIGUSR1') and try 127.0.0.1:9229 (a debugger another job could attach to when there is no private netns)
// expect-status: ok
// control: skip would expose a root debugger on the host's loopback for the length of the run
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
const net = mod('net'); const inspector = mod('inspector');

// Inside a private network namespace the debugger (if it starts) is only reachable by this job itself, so the
// connection is reported, not asserted; cross-job reachability needs two concurrent runs (see README).
const out = { signal_sent: false, connected_9229: false, errors: {} };
try { process.kill(process.pid, 'SIGUSR1'); out.signal_sent = true; } catch (e) { out.errors.kill = errc(e); }
await new Promise((r) => setTimeout(r, 400));
try { const u = inspector && inspector.url(); out.inspector_url_host = u ? new URL(u).host : null; } catch (e) { out.errors.url = errc(e); }
const r = await new Promise((resolve) => {
  let done = false, s, t;
  const fin = (x) => { if (done) return; done = true; clearTimeout(t); try { s && s.destroy(); } catch (_) {} resolve(x); };
  t = setTimeout(() => fin({ connected: false, error: 'TIMEOUT' }), 500);
  try { s = net.connect({ host: '127.0.0.1', port: 9229 }); s.once('connect', () => fin({ connected: true })); s.once('error', (e) => fin({ connected: false, error: errc(e) })); }
  catch (e) { fin({ connected: false, error: errc(e) }); }
});
out.connected_9229 = r.connected; if (r.error) out.errors.connect = r.error;
try { inspector && inspector.close(); } catch (_) {}
return out;
