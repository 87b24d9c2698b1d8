// about: a setTimeout callback that runs before the awaited promise settles has its effects and logs kept
// expect-status: ok
// expect-result: "set by timer"
// expect-logs: [{"level": "log", "message": "timer ran"}]
let value = 'unset';
await new Promise((resolve) => {
  setTimeout(() => {
    value = 'set by timer';
    console.log('timer ran');
    resolve();
  }, 20);
});
return value;
