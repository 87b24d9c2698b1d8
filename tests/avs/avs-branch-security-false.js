// about: a condition containing one of upstream's blacklisted substrings is false without running, even inside a name
// upstream: core/taskengine/vm_runner_branch_test.go TestBranchNodeSecurity; vm_security.go ValidateCodeInjection
// profile: avs
// mode: expression
// inputs: {"data": {"processed": true}}
// expect-status: ok
// expect-result: false
// expect-logs: [{"level": "info", "message": "false (security validation failed)\n  Error: dangerous pattern detected: process"}]
data.processed == true
