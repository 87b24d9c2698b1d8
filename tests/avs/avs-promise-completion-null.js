// about: a completion value that is a promise is null under avs as well
// upstream: core/taskengine/vm_runner_customcode.go sanitizeGojaExportForProtobuf ("functions, Promises → nil")
// profile: avs
// expect-status: ok
// expect-result: null
Promise.resolve(1)
