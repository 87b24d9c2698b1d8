// about: a condition that throws counts as false, with the error logged
// upstream: core/taskengine/vm_runner_branch.go Execute ("false (evaluation error)")
// profile: avs
// mode: expression
// expect-status: ok
// expect-result: false
// expect-logs: [{"level": "info", "message": "false (evaluation error)\n  Error: ReferenceError: a is not defined"}]
a > 10
