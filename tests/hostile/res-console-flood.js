// about: flood console.log with 64 KiB lines forever
// expect-status: output_limit
// expect-truncated: true
// control: skip never finishes by itself
// limits: {"timeout_ms": 10000, "memory_mib": 256, "max_output_bytes": 1048576}
const line = 'L'.repeat(65535);
for (let i = 0; ; i++) {
  console.log(line);
  if ((i & 15) === 15) await new Promise((r) => setImmediate(r));
}
