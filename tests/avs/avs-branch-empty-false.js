// about: an empty (white space only) condition is false
// upstream: core/taskengine/vm_runner_branch_test.go TestBranchNodeEmptyConditionIsAPass; vm_runner_branch.go ("false (empty expression)")
// profile: avs
// mode: expression
// expect-status: ok
// expect-result: false
// expect-logs: [{"level": "info", "message": "false (empty expression)"}]
	
