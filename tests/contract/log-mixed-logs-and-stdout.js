// about: console output goes to logs and raw writes go to stdout/stderr; console.log does not appear in stdout
// expect-status: ok
// expect-logs: [{"level": "log", "message": "first log"}, {"level": "error", "message": "an error log"}, {"level": "log", "message": "last log"}]
// expect-stdout: "raw out 1\nraw out 2\n"
// expect-stderr: "raw err\n"
console.log('first log');
process.stdout.write('raw out 1\n');
console.error('an error log');
process.stderr.write('raw err\n');
process.stdout.write('raw out 2\n');
console.log('last log');
