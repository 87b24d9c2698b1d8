// about: install handlers for SIGTERM/SIGINT/SIGHUP/SIGQUIT/SIGUSR2 (so they no longer kill) then busy-loop: the host must escalate to SIGKILL
// expect-status: timeout
// control: skip never finishes by itself
// limits: {"timeout_ms": 1000, "memory_mib": 128}
for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR2', 'SIGPIPE', 'SIGXCPU']) {
  try { process.on(s, () => {}); } catch (_) {}
}
while (true) {}
