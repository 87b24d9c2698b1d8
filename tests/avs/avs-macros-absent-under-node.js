// about: the AVS macros are globals only under the avs profile
// upstream: core/taskengine/macros/exp.go exprEnv (the node profile's difference)
// profile: node
// expect-status: ok
// expect-result: ["undefined", "undefined", "undefined"]
[typeof toBigInt, typeof parseUnit, typeof state]
