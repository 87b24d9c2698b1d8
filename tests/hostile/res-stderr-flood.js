// about: flood stderr with 64 KiB chunks forever (process.stderr.write and console.error)
// expect-status: output_limit
// expect-truncated: true
// control: skip never finishes by itself
// limits: {"timeout_ms": 10000, "memory_mib": 256, "max_output_bytes": 1048576}
const chunk = 'E'.repeat(65535) + '\n';
for (let i = 0; ; i++) {
  if (i & 1) process.stderr.write(chunk); else console.error(chunk);
  if ((i & 15) === 15) await new Promise((r) => setImmediate(r));
}
