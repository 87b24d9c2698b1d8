// about: a SyntaxError on the first line of code reports line 1 and the 1-based column of the unexpected token
// expect-status: error
// expect-error-has: {"name": "SyntaxError", "line": 1, "column": 11}
const x = ;
return x;
