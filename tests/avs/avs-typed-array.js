// about: a typed array in the result becomes an array of numbers
// upstream: core/taskengine/vm_runner_customcode_test.go TestCustomCodeTypedArraySupport
// profile: avs
// expect-status: ok
// expect-result: {"values": [10, 20, 30]}
const arr = new Int32Array([10, 20, 30]);
return { values: arr }
