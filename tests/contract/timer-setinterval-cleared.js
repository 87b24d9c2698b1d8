// about: setInterval ticks until cleared with clearInterval
// expect-status: ok
// expect-result: 3
// expect-logs: [{"level": "log", "message": "tick 1"}, {"level": "log", "message": "tick 2"}, {"level": "log", "message": "tick 3"}]
const count = await new Promise((resolve) => {
  let n = 0;
  const id = setInterval(() => {
    n += 1;
    console.log('tick ' + n);
    if (n === 3) {
      clearInterval(id);
      resolve(n);
    }
  }, 5);
});
return count;
