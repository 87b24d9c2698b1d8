// about: a Date in the result is Go's time.RFC3339Nano in UTC, trailing zeros trimmed
// upstream: core/taskengine/vm_runner_customcode_test.go TestCustomCodeDateSupport
// profile: avs
// expect-status: ok
// expect-result: {"timestamp": "2026-01-15T10:30:00Z", "label": "created", "withMillis": "2026-01-15T10:30:00.12Z"}
const d = new Date("2026-01-15T10:30:00Z");
return { timestamp: d, label: "created", withMillis: new Date("2026-01-15T10:30:00.120Z") }
