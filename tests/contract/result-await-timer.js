// about: top-level await of a setTimeout-based delay, then return
// expect-status: ok
// expect-result: "done after delay"
const started = Date.now();
await new Promise((resolve) => setTimeout(resolve, 30));
const waited = Date.now() - started;
return waited >= 25 ? 'done after delay' : 'too early: ' + waited;
