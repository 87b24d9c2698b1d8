// about: microtask starvation for(;;) await null - 100% CPU, in-process setTimeout watchdogs never fire
// expect-status: timeout
// control: skip never finishes by itself
// limits: {"timeout_ms": 1000, "memory_mib": 128}
for (;;) await null;
