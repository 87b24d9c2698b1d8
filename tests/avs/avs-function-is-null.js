// about: a function in the result becomes null; the rest converts
// upstream: core/taskengine/vm_runner_customcode_test.go TestCustomCodeFunctionReturnHandled
// profile: avs
// expect-status: ok
// expect-result: {"callback": null, "value": 42}
return { callback: function() {}, value: 42 }
