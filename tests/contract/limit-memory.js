// about: allocating past memory_mib ends with status memory_limit
// limits: {"memory_mib": 64, "timeout_ms": 10000}
// expect-status: memory_limit
const hold = [];
while (true) {
  hold.push(new Array(1 << 20).fill(hold.length));
}
