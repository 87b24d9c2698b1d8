// about: a branch condition is one expression; a true comparison holds
// upstream: core/taskengine/vm_runner_branch_test.go TestBranchNodeExpressionWithJavaScript ("Logical operator match")
// profile: avs
// mode: expression
// inputs: {"cod1": {"data": 3}}
// expect-status: ok
// expect-result: true
Number(cod1.data) >= 2 && Number(cod1.data) <=3
