// about: under node, mode expression rejects more than one expression with a positioned syntax error
// upstream: core/taskengine/vm_runner_branch.go (the node profile's difference: errors are errors)
// profile: node
// mode: expression
// expect-status: error
// expect-error-has: {"name": "SyntaxError", "line": 1}
a; b
