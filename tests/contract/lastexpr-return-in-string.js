// about: the word return inside string and template literals is not a top-level return
// expect-status: ok
// expect-result: "return 5 / return now"
const s = "return 5";
const t = `return ${'now'}`;
s + ' / ' + t
