// about: return inside a function declaration does not count as a top-level return
// expect-status: ok
// expect-result: 42
function double(n) {
  return n * 2;
}
double(21)
