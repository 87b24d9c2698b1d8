// about: a string literal expression statement (not in the directive prologue) as the last expression
// expect-status: ok
// expect-result: "done"
const ready = true;
'done'
