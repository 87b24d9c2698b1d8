// about: last expression is an object literal wrapped in parentheses
// expect-status: ok
// expect-result: {"a": 1, "b": [2, 3]}
const b = [2, 3];
({ a: 1, b })
