// about: a SyntaxError reports the parser's line and 1-based column of the offending token
// expect-status: error
// expect-error-has: {"name": "SyntaxError", "line": 3, "column": 12}
let a = 1;
let b = 2;
let c = a +* b;
return c;
