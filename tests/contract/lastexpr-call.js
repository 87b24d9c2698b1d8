// about: last expression is a call expression
// expect-status: ok
// expect-result: 7
const values = [3, 7, 5];
Math.max(...values)
