// about: last expression ending in a semicolon still counts
// expect-status: ok
// expect-result: "abc"
const parts = ['a', 'b', 'c'];
parts.join('');
