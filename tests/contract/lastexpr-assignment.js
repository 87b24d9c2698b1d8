// about: an assignment as the last expression gives the assigned value
// expect-status: ok
// expect-result: 7
let y;
y = 7
