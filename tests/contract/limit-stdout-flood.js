// about: a process.stdout.write flood counts against max_output_bytes too
// limits: {"max_output_bytes": 10000, "timeout_ms": 5000}
// expect-status: output_limit
// expect-truncated: true
for (let i = 0; i < 100000; i++) {
  process.stdout.write('stdout flood line ' + i + '\n');
}
return 'not reached';
