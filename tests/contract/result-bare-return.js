// about: a bare `return;` gives null
// expect-status: ok
// expect-result: null
const x = 5;
if (x > 1) {
  return;
}
return x;
