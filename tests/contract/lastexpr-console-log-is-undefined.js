// about: console.log(...) as the last expression gives its value, undefined, which converts to null
// expect-status: ok
// expect-result: null
// expect-logs: [{"level": "log", "message": "only a log"}]
const msg = 'only a log';
console.log(msg)
