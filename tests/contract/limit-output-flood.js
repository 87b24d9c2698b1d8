// about: a console flood beyond max_output_bytes ends with output_limit and truncated true
// limits: {"max_output_bytes": 10000, "timeout_ms": 5000}
// expect-status: output_limit
// expect-truncated: true
for (let i = 0; i < 100000; i++) {
  console.log('flood line ' + i);
}
return 'not reached';
