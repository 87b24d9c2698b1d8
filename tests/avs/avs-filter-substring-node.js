// about: under node the predicate's form is parsed, so the same predicate keeps both elements
// upstream: core/taskengine/vm_runner_filter.go filterArray (the node profile's difference)
// profile: node
// mode: filter
// inputs: {"items": [{"diff": 1}, {"diff": 2}]}
// expect-status: ok
// expect-result: [{"diff": 1}, {"diff": 2}]
value.diff > 0
