// about: a result that is a promise is null under avs (goja exports an unawaited *goja.Promise, sanitized to nil); awaited values are kept
// upstream: core/taskengine/vm_runner_customcode.go sanitizeGojaExportForProtobuf ("functions, Promises → nil")
// profile: avs
// expect-status: ok
// expect-result: null
const later = async () => 42;
if (await later() === 42) {
  return later();
}
return "unreached";
