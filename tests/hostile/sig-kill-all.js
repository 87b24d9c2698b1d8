// about: process.kill(-1, 'SIGKILL') - signal every process the job can see; fired only after checking that the host's pids are invisible (sentinel_pid answers ESRCH)
// expect-status: ok|crashed
// control: skip kill(-1) as root is never run outside the sandbox
// landlock-exception: no pid namespace, so the host's pids are visible and the case refuses to fire kill(-1) (seccomp refuses kill(-1) and Landlock scopes signals; sig-kill-sentinel checks that a visible host process cannot be signalled)
// landlock-expect-status: error
// landlock-expect-error-message-includes: host pids are visible (sentinel probe: EPERM)
// limits: {"timeout_ms": 5000, "memory_mib": 128}
const errc = (e) => (e && typeof e === 'object' && (e.code || e.name)) ? String(e.code || e.name) : String(e);
const I = (typeof inputs === 'object' && inputs) ? inputs : {};

// SAFETY GUARD: if the host's sentinel process is visible (signal 0 succeeds or says EPERM), this job shares the host's
// pid namespace and kill(-1) could take down the shared machine. Then the case refuses by throwing, and status error
// fails the expectation just as loudly. The sandbox (runner possibly dying) may end as "crashed".
const out = { host_pids_visible: true, fired: false, probe: null };
try { process.kill(Number(I.sentinel_pid), 0); out.probe = 'exists'; }
catch (e) { out.probe = errc(e); if (e && e.code === 'ESRCH') out.host_pids_visible = false; }
if (out.host_pids_visible) throw new Error('host pids are visible (sentinel probe: ' + out.probe + '): refusing kill(-1)');
// ESRCH just means nothing else was visible to kill.
out.fired = true;
try { process.kill(-1, 'SIGKILL'); } catch (e) { out.error = errc(e); }
await new Promise((r) => setTimeout(r, 200));
return out;
