// about: build a directory tree tens of thousands of levels deep in the writable directory (mkdir t; rename c t/c; rename t c, over and over: no path ever gets long): the host must remove it after the run without recursion (it overflowed a server thread's stack, or left the tree on the host for good), and nothing may be left
// expect-status: ok
// expect-result-has: {"built": true}
// control: skip would build the tree in the host's working directory
// limits: {"timeout_ms": 20000, "memory_mib": 128}
const fs = process.getBuiltinModule ? process.getBuiltinModule('fs') : require('fs');
let depth = 0;
let stopped = null;
const t0 = Date.now();
try {
  fs.mkdirSync('c');
  while (depth < 30000 && Date.now() - t0 < 4000) {
    fs.mkdirSync('t');
    fs.renameSync('c', 't/c');
    fs.renameSync('t', 'c');
    depth++;
  }
} catch (e) {
  stopped = e.code || String(e); // a size- or inode-capped /tmp ends it sooner
}
return { built: depth > 1000, depth, stopped };
