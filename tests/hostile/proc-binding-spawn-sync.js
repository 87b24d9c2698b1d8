// about: bypass child_process by calling process.binding('spawn_sync').spawn directly for /bin/sh and for process.execPath
// expect-status: ok
// expect-result-has: {"sh_spawned": false}
// control: skip the runner removes process.getBuiltinModule/binding and does not allowlist spawn_sync (process.binding), so it is unreachable from jobs even unsandboxed; kept as defence in depth against a runner regression
// limits: {"timeout_ms": 10000, "memory_mib": 256}
const errc = (e) => (e && typeof e === 'object' && (e.code || e.name)) ? String(e.code || e.name) : String(e);

const out = { binding_available: false, sh_spawned: false, node_spawned: false, errors: {} };
let b = null;
try { b = process.binding('spawn_sync'); out.binding_available = !!(b && b.spawn); } catch (e) { out.errors.binding = errc(e); }
const pipes = [{ type: 'pipe', readable: true, writable: false }, { type: 'pipe', readable: false, writable: true }, { type: 'pipe', readable: false, writable: true }];
const run = (file, args) => {
  const r = b.spawn({ file, args: [file, ...args], envPairs: [], stdio: pipes, detached: false, windowsHide: false, windowsVerbatimArguments: false, killSignal: 15, maxBuffer: 65536, timeout: 3000 });
  return { status: r.status, errno: r.error || null, stdout: r.output && r.output[1] ? String(r.output[1]).slice(0, 100) : null };
};
if (out.binding_available) {
  try { const r = run('/bin/sh', ['-c', 'echo nodecell-sh-ran']); out.sh = r; out.sh_spawned = r.status === 0 && String(r.stdout).includes('nodecell-sh-ran'); } catch (e) { out.errors.sh = errc(e); }
  try { const r = run(process.execPath, ['-e', 'process.stdout.write("nodecell-node-ran")']); out.node = r; out.node_spawned = r.status === 0 && String(r.stdout).includes('nodecell-node-ran'); } catch (e) { out.errors.node = errc(e); }
}
return out;
