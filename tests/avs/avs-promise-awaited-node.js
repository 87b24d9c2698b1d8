// about: under node a returned promise is awaited (the node profile's difference)
// upstream: core/taskengine/vm_runner_customcode.go sanitizeGojaExportForProtobuf (the node profile's difference)
// profile: node
// expect-status: ok
// expect-result: [42, 1]
const later = async () => 42;
return Promise.all([later(), Promise.resolve(1)]);
