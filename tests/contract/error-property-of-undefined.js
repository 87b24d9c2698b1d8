// about: reading a property of undefined is a TypeError pointing at the failing property access
// expect-status: error
// expect-error-has: {"name": "TypeError", "message": "Cannot read properties of undefined (reading 'y')", "line": 2, "column": 12}
const o = {};
return o.x.y;
