// about: a single 50 MB console.log message, then return normally: the host caps the captured log/output
// expect-status: ok|output_limit
// expect-truncated: true
// control: skip writes 50 MB to the control's stdout
// limits: {"timeout_ms": 10000, "memory_mib": 512, "max_output_bytes": 1048576}
console.log('G'.repeat(50 * 1024 * 1024));
return { logged: true };
