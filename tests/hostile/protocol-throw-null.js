// about: throw null - a non-object, non-Error exception
// expect-status: error
// control: skip protocol robustness does not depend on the sandbox
// limits: {"timeout_ms": 5000, "memory_mib": 128}
throw null;
