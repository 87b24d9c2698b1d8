// about: console.log with several args of different types, formatted like util.format
// expect-status: ok
// expect-result: null
// expect-logs: [{"level": "log", "message": "a 1 { b: 2 }"}]
console.log('a', 1, { b: 2 });
return null;
