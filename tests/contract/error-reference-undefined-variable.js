// about: ReferenceError for an undefined variable, with line and column of the identifier
// expect-status: error
// expect-error-has: {"name": "ReferenceError", "message": "missingVar is not defined", "line": 2, "column": 11}
const a = 1;
const y = missingVar + a;
return y;
