// about: an error in the middle of the last expression keeps its original column
// expect-status: error
// expect-error-has: {"name": "TypeError", "message": "Cannot read properties of undefined (reading 'y')", "line": 2, "column": 21}
const o = {};
[1, 2].length + o.x.y
