// about: flood console.log('') forever: an empty entry must cost the output budget (it is an entry in the outcome and work for the host), so the run ends at the budget instead of building an outcome of millions of entries until the timeout
// expect-status: output_limit
// expect-truncated: true
// control: skip never finishes by itself
// limits: {"timeout_ms": 10000, "memory_mib": 256, "max_output_bytes": 65536}
for (let i = 0; ; i++) {
  console.log('');
  if ((i & 1023) === 1023) await new Promise((r) => setImmediate(r));
}
