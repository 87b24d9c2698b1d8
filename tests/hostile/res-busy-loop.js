// about: synchronous infinite loop while(true){} - only an external wall/CPU limit stops it
// expect-status: timeout
// control: skip never finishes by itself
// limits: {"timeout_ms": 1000, "memory_mib": 128}
while (true) {}
