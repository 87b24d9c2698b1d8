// about: the same object referenced twice (no cycle) is not circular; it appears twice
// expect-status: ok
// expect-result: {"a": {"x": 1}, "b": {"x": 1}, "list": [{"x": 1}, {"x": 1}]}
const o = { x: 1 };
return { a: o, b: o, list: [o, o] };
