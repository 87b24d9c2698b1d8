// about: the word return inside comments is not a top-level return
// expect-status: ok
// expect-result: 42
const a = 40;
// return 1;
/* return 2; */
a + 2 // return 3
