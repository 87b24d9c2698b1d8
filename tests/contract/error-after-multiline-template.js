// about: lines inside a multi-line template literal are counted, so the later error reports line 4
// expect-status: error
// expect-error-has: {"name": "TypeError", "message": "Cannot read properties of null (reading 'x')", "line": 4, "column": 6}
const t = `a
b
c`;
null.x
