// about: crypto.getRandomValues fills any array-like of up to 65536 elements with random bytes
// upstream: core/taskengine/macros/goja_utils.go ConfigureGojaRuntime (crypto polyfill)
// profile: avs
// expect-status: ok
// expect-result: [4, true, 0]
const a = crypto.getRandomValues(new Uint8Array(4));
const plain = crypto.getRandomValues([0, 0, 0]);
[a.length, plain.every((x) => Number.isInteger(x) && x >= 0 && x < 256), crypto.getRandomValues([]).length]
