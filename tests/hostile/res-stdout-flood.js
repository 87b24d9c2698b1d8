// about: flood stdout with 64 KiB chunks forever via process.stdout.write (yielding now and then so async streams drain too)
// expect-status: output_limit
// expect-truncated: true
// control: skip never finishes by itself
// limits: {"timeout_ms": 10000, "memory_mib": 256, "max_output_bytes": 1048576}
const chunk = 'A'.repeat(65535) + '\n';
for (let i = 0; ; i++) {
  process.stdout.write(chunk);
  if ((i & 15) === 15) await new Promise((r) => setImmediate(r));
}
