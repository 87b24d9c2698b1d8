// about: no top-level return: the last top-level expression statement is the result
// expect-status: ok
// expect-result: 42
const x = 20;
x + 22
