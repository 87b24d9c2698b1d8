// about: logs and stdout produced before an uncaught error are kept in the outcome
// expect-status: error
// expect-error-has: {"name": "Error", "message": "after logging", "line": 3, "column": 7}
// expect-logs: [{"level": "log", "message": "before"}]
// expect-stdout: "partial"
console.log('before');
process.stdout.write('partial');
throw new Error('after logging');
