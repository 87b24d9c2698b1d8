// about: block the main thread forever in Atomics.wait on a SharedArrayBuffer - idle, no CPU used, so only a wall-clock limit stops it
// expect-status: timeout
// control: skip never finishes by itself
// limits: {"timeout_ms": 1000, "memory_mib": 128}
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
return { woke: true };
