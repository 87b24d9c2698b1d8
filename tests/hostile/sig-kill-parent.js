// about: SIGKILL the parent process (process.ppid) - inside the sandbox this is an init/launcher, outside it would be the runner host
// expect-status: ok|crashed
// control: skip in the control pid namespace ppid is 0 (or the harness), nothing meaningful to prove
// limits: {"timeout_ms": 5000, "memory_mib": 128}
const errc = (e) => (e && typeof e === 'object' && (e.code || e.name)) ? String(e.code || e.name) : String(e);

// ppid 0 (we are pid 1 of our namespace) would turn kill(0) into "my own process group": skipped.
const out = { ppid: process.ppid, sent: false };
if (process.ppid > 0) {
  try { process.kill(process.ppid, 'SIGKILL'); out.sent = true; } catch (e) { out.error = errc(e); }
  await new Promise((r) => setTimeout(r, 200));
}
return out;
