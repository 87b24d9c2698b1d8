// about: SIGKILL pid 1 (the namespace init, or the job itself if it is pid 1) and check pid 1 is still there afterwards
// expect-status: ok|crashed
// control: skip in the control namespace pid 1 is the control itself, which the kernel protects from SIGKILL sent from inside
// limits: {"timeout_ms": 5000, "memory_mib": 128}
const errc = (e) => (e && typeof e === 'object' && (e.code || e.name)) ? String(e.code || e.name) : String(e);

// SIGKILL only: the kernel drops it for any namespace init (and for the host's init), unlike SIGTERM/SIGINT,
// which systemd would act on.
const out = { is_pid1: process.pid === 1, sent: false, pid1_alive_after: null };
try { process.kill(1, 'SIGKILL'); out.sent = true; } catch (e) { out.error = errc(e); }
await new Promise((r) => setTimeout(r, 200));
try { process.kill(1, 0); out.pid1_alive_after = true; } catch (e) { out.pid1_alive_after = e && e.code === 'EPERM'; out.probe = errc(e); }
// A dead pid 1 turns into status error (not in expect-status), so no result assertion is needed.
if (!out.pid1_alive_after) throw new Error('pid 1 is gone after kill(1, SIGKILL)');
return out;
