// about: a synchronous infinite loop is stopped at timeout_ms
// limits: {"timeout_ms": 500}
// expect-status: timeout
while (true) {}
