// about: a condition whose value is not a boolean counts as false, and the reason is logged
// upstream: core/taskengine/vm_runner_branch.go Execute ("false (non-boolean result)")
// profile: avs
// mode: expression
// inputs: {"name": "alice"}
// expect-status: ok
// expect-result: false
// expect-logs: [{"level": "info", "message": "false (non-boolean result: string)"}]
name
