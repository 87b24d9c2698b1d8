// about: under node, mode expression returns the expression's value as it is
// upstream: core/taskengine/vm_runner_branch.go (the node profile's difference)
// profile: node
// mode: expression
// inputs: {"name": "alice"}
// expect-status: ok
// expect-result: "alice!"
name + "!"
