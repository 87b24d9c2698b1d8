// about: throw new TypeError('x') as a statement starting at line 3 column 5; line/column follow the V8 stack frame, which points at the `new` expression (column 11)
// expect-status: error
// expect-error-has: {"name": "TypeError", "message": "x", "line": 3, "column": 11}
const input = 'abc';
if (typeof input !== 'number') {
    throw new TypeError('x');
}
return input;
