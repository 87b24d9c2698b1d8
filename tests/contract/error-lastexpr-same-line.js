// about: an error in the last expression statement keeps the original position (line 2, column 1) despite last-expression handling
// expect-status: error
// expect-error-has: {"name": "ReferenceError", "message": "foo is not defined", "line": 2, "column": 1}
const a = 1;
foo(a)
