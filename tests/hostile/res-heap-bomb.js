// about: grow the V8 heap without bound (arrays of 1M doubles kept alive) under memory_mib 64
// expect-status: memory_limit
// control: skip unbounded memory growth on the host
// limits: {"timeout_ms": 20000, "memory_mib": 64}
const hog = [];
for (;;) hog.push(new Array(1 << 20).fill(hog.length + 0.5));
