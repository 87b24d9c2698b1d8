// about: calling a missing method is a TypeError pointing at the method name
// expect-status: error
// expect-error-has: {"name": "TypeError", "message": "o.run is not a function", "line": 2, "column": 3}
const o = {};
o.run();
