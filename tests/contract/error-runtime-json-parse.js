// about: a SyntaxError thrown at run time by JSON.parse is still name SyntaxError and points at the user's call site
// expect-status: error
// expect-error-has: {"name": "SyntaxError", "line": 2, "column": 18}
// expect-error-message-includes: JSON
const raw = '{bad';
const obj = JSON.parse(raw);
return obj;
