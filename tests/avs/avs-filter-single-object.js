// about: filter over a single object evaluates it once with index 0: kept as a one-element list, or an empty one
// upstream: core/taskengine/vm_runner_filter.go filterSingleMap
// profile: avs
// mode: filter
// inputs: {"items": {"age": 25, "name": "Alice"}}
// expect-status: ok
// expect-result: [{"age": 25, "name": "Alice"}]
value.age >= 18 && index === 0
