// about: a top-level return inside an if block is a top-level return
// inputs: {"threshold": 5}
// expect-status: ok
// expect-result: "above"
const value = 8;
if (value > threshold) {
  return 'above';
}
'below'
