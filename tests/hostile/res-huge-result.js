// about: return a ~200 MB string as the result: the runner/host must cap it (result too large) rather than buffer it
// expect-status: error|memory_limit
// control: skip needs several hundred MB in an unlimited process
// limits: {"timeout_ms": 30000, "memory_mib": 512, "max_result_bytes": 1048576}
return 'R'.repeat(200 * 1024 * 1024);
