// about: a condition over a variable that does not exist can still be true through typeof
// upstream: core/taskengine/vm_runner_branch_test.go TestBranchNodeEvaluateTypeof
// profile: avs
// mode: expression
// inputs: {"mytrigger": {}}
// expect-status: ok
// expect-result: true
typeof mytrigger.data == "undefined"
