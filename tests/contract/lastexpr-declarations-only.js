// about: code with declarations but no expression statement and no return gives null
// expect-status: ok
// expect-result: null
const a = 1;
let b = a + 1;
function c() {
  return b;
}
