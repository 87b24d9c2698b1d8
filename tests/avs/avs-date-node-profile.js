// about: under the node profile a Date keeps JavaScript's toISOString form (milliseconds always)
// upstream: core/taskengine/vm_runner_customcode_test.go TestCustomCodeDateSupport (the node profile's difference)
// profile: node
// expect-status: ok
// expect-result: {"timestamp": "2026-01-15T10:30:00.000Z"}
return { timestamp: new Date("2026-01-15T10:30:00Z") }
