// about: declarations after the last expression still run; the result is that expression
// expect-status: ok
// expect-result: "first"
// expect-logs: [{"level": "log", "message": "after ran"}]
const word = 'first';
word
const after = (console.log('after ran'), 1);
function unused() {
  return after;
}
