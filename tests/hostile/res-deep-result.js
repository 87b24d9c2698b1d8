// about: return a 1e6-deep nested array [[[...]]]: serialisation must fail cleanly (stack overflow or depth cap), never crash the host
// expect-status: error
// control: skip the outcome depends only on the runner, not on the sandbox
// limits: {"timeout_ms": 20000, "memory_mib": 256}
let a = [];
for (let i = 0; i < 1e6; i++) a = [a];
return a;
