// about: a predicate with if/return is a function body; an element whose predicate throws is skipped
// upstream: core/taskengine/vm_runner_filter.go filterArray (the "if"/"return" rule, "Skipping item")
// profile: avs
// mode: filter
// inputs: {"items": [{"cost": 15}, {"cost": 3}, null, {"cost": 20}]}
// expect-status: ok
// expect-result: [{"cost": 15}, {"cost": 20}]
if (value.cost > 10) { return true } return index < 0
