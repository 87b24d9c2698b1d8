// about: filter keeps the elements whose predicate is truthy, in order, with value and index bound
// upstream: core/taskengine/vm_runner_filter_test.go TestFilter
// profile: avs
// mode: filter
// inputs: {"items": [{"cost": 12, "name": "abc"}, {"cost": 2, "name": "def"}, {"cost": 5, "name": "ghi"}]}
// expect-status: ok
// expect-result: [{"cost": 12, "name": "abc"}]
value.cost > 5
