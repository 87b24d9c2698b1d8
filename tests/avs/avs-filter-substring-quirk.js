// about: upstream's body rule is a plain substring test: "diff" contains "if", so the predicate is a body without return and keeps nothing
// upstream: core/taskengine/vm_runner_filter.go filterArray (strings.Contains(expr, "if"))
// profile: avs
// mode: filter
// inputs: {"items": [{"diff": 1}, {"diff": 2}]}
// expect-status: ok
// expect-result: []
value.diff > 0
