// about: a top-level return inside a for loop is a top-level return
// expect-status: ok
// expect-result: 20
for (const n of [1, 2, 3]) {
  if (n === 2) return n * 10;
}
return -1;
