// about: process.stdout.write / process.stderr.write are captured verbatim (no added newline) and not as logs
// expect-status: ok
// expect-result: "written"
// expect-logs: []
// expect-stdout: "ab\nc"
// expect-stderr: "warn: x\n"
process.stdout.write('a');
process.stdout.write('b\n');
process.stderr.write('warn: x\n');
process.stdout.write('c');
return 'written';
