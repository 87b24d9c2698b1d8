// about: allocate 16 MiB Buffers filled with data (so the pages are really touched) in a loop, kept alive - off-heap memory that --max-old-space-size does not see
// expect-status: memory_limit|ok
// control: skip unbounded memory growth on the host
// limits: {"timeout_ms": 20000, "memory_mib": 64}
const errc = (e) => (e && typeof e === 'object' && (e.code || e.name)) ? String(e.code || e.name) : String(e);

// Normally the memory cgroup OOM-kills this (memory_limit). If the allocator refuses instead (RLIMIT_AS), the
// case returns {"refused": true} (status ok) and that counts as contained too: it can only return by being refused.
const keep = [];
try {
  for (;;) keep.push(Buffer.alloc(16 << 20, keep.length & 0xff | 1));
} catch (e) {
  const n = keep.length; keep.length = 0;
  return { refused: true, chunks: n, error: errc(e) };
}
