// about: await a promise that never settles with nothing keeping the event loop alive: the job can neither return nor throw
// expect-status: error|crashed|timeout
// control: skip the outcome depends only on the runner, not on the sandbox
// limits: {"timeout_ms": 2000, "memory_mib": 128}
await new Promise(() => {});
return { unreachable: true };
