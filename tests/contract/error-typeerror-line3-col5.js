// about: a TypeError created at line 3 column 5 and thrown later reports line 3 column 5 (V8 stack-trace position of the construction)
// expect-status: error
// expect-error-has: {"name": "TypeError", "message": "x", "line": 3, "column": 5}
const input = 'abc';
const err =
    new TypeError('x');
throw err;
