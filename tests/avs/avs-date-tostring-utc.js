// about: Date.prototype.toString prints in UTC as toUTCString with GMT replaced by UTC
// upstream: core/taskengine/macros/goja_utils.go ConfigureGojaRuntime (OriginalDate.prototype.toString); issue 14's example
// profile: avs
// expect-status: ok
// expect-result: "at Tue, 02 Jan 2024 03:04:05 UTC"
"at " + new Date(Date.UTC(2024, 0, 2, 3, 4, 5))
