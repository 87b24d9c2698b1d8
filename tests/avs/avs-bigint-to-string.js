// about: BigInt values in the result become decimal strings (full precision)
// upstream: core/taskengine/vm_runner_customcode_test.go TestCustomCodeBigIntReturnedDirectly
// profile: avs
// expect-status: ok
// expect-result: {"result": "2000000000000000000", "items": ["1000000000000000000", "2", "hello"]}
const a = BigInt("1000000000000000000");
const b = BigInt(2);
return { result: a * b, items: [a, b, "hello"] }
