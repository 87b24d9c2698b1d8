// about: pending timers are dropped in last-expression mode too; logs made before the end are kept
// expect-status: ok
// expect-result: "result"
// expect-logs: [{"level": "log", "message": "kept"}]
setTimeout(() => console.log('dropped'), 100);
setInterval(() => console.log('interval dropped'), 20);
console.log('kept');
'result'
