// about: throw a Symbol - string concatenation of it throws TypeError in a naive error formatter
// expect-status: error
// control: skip protocol robustness does not depend on the sandbox
// limits: {"timeout_ms": 5000, "memory_mib": 128}
throw Symbol('nodecell-hostile');
