// about: Object.prototype.toString always gives "[object Object]", even for arrays called through it
// upstream: core/taskengine/macros/goja_utils_test.go TestObjectToString
// profile: avs
// expect-status: ok
// expect-result: ["[object Object]", "Result: [object Object]", "Value: [object Object]", "[object Object]"]
[({}).toString(), 'Result: ' + {}, 'Value: ' + {a: {b: 1}}, Object.prototype.toString.call([])]
