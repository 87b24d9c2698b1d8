// about: a white-space-only condition is false (empty after processing)
// upstream: core/taskengine/vm_runner_branch_test.go TestBranchNodeEmptyConditionIsAPass; vm_runner_branch.go ("false (empty expression)")
// profile: avs
// mode: expression
// expect-status: ok
// expect-result: false
// expect-logs: [{"level": "info", "message": "false (expression empty after processing)"}]
	
