// about: write a tiny hand-made static ELF (exit 42) into /tmp, chmod +x and execute it via child_process (noexec /tmp and no spawn must stop it)
// expect-status: ok
// expect-result-has: {"executed": false}
// control: skip the runner removes process.getBuiltinModule/binding and does not allowlist child_process, so it is unreachable from jobs even unsandboxed; kept as defence in depth against a runner regression
// limits: {"timeout_ms": 5000, "memory_mib": 128}
// Built-ins the way an attacker gets them: getBuiltinModule/require first; if the runner removed those back doors,
// dig them out of objects the runtime still exposes (an fs stream keeps the whole fs module under its kFs symbol -
// process.stdin is an fs.ReadStream when fd 0 is /dev/null - and stdio sockets hand out the net.Socket class).
const mod = (n) => {
  try { const m = process.getBuiltinModule && process.getBuiltinModule(n); if (m) return m; } catch (_) {}
  try { const m = require(n); if (m) return m; } catch (_) {}
  try {
    if (n === 'fs') for (const k of ['stdin', 'stdout', 'stderr']) { const s = process[k]; const y = s && Object.getOwnPropertySymbols(s).find((x) => x.description === 'kFs'); if (y && s[y] && typeof s[y].readFileSync === 'function') return s[y]; }
    if (n === 'net') for (const k of ['stdout', 'stderr', 'stdin']) { const C = process[k] && process[k].constructor; if (typeof C === 'function' && C.name === 'Socket' && typeof C.prototype.connect === 'function') return { Socket: C, connect: (...a) => new C().connect(...a), createConnection: (...a) => new C().connect(...a) }; }
  } catch (_) {}
  return null;
};
const errc = (e) => (e && typeof e === 'object' && (e.code || e.name)) ? String(e.code || e.name) : String(e);
const fs = mod('fs'); const os = mod('os') || { tmpdir: () => '/tmp' }; const path = mod('path'); const cp = mod('child_process');

// 132-byte ELF64 ET_EXEC, one PT_LOAD at 0x400000: exit(42). x86-64 or aarch64 code by process.arch.
const makeElf = () => {
  const x64 = process.arch !== 'arm64';
  const code = x64
    ? [0xbf, 42, 0, 0, 0, 0xb8, 60, 0, 0, 0, 0x0f, 0x05]                  // mov edi,42; mov eax,60 (exit); syscall
    : [0x40, 0x05, 0x80, 0xd2, 0xa8, 0x0b, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4]; // mov x0,#42; mov x8,#93 (exit); svc #0
  const total = 64 + 56 + code.length; const base = 0x400000n;
  const b = Buffer.alloc(total);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0);
  b.writeUInt16LE(2, 16); b.writeUInt16LE(x64 ? 0x3e : 0xb7, 18); b.writeUInt32LE(1, 20);
  b.writeBigUInt64LE(base + 120n, 24); b.writeBigUInt64LE(64n, 32); b.writeBigUInt64LE(0n, 40); b.writeUInt32LE(0, 48);
  b.writeUInt16LE(64, 52); b.writeUInt16LE(56, 54); b.writeUInt16LE(1, 56); b.writeUInt16LE(64, 58); b.writeUInt16LE(0, 60); b.writeUInt16LE(0, 62);
  b.writeUInt32LE(1, 64); b.writeUInt32LE(5, 68);                                  // PT_LOAD, R+X
  b.writeBigUInt64LE(0n, 72); b.writeBigUInt64LE(base, 80); b.writeBigUInt64LE(base, 88);
  b.writeBigUInt64LE(BigInt(total), 96); b.writeBigUInt64LE(BigInt(total), 104); b.writeBigUInt64LE(0x1000n, 112);
  b.set(code, 120);
  return b;
};
const out = { written: false, executed: false, child_process_available: !!cp, errors: {} };
let dir = null;
try {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodecell-hostile-elf-'));
  const f = path.join(dir, 'payload');
  fs.writeFileSync(f, makeElf(), { mode: 0o755 });
  fs.chmodSync(f, 0o755);
  out.written = true;
  try {
    const r = cp.spawnSync(f, [], { timeout: 2000, stdio: 'ignore' });
    out.spawn_status = r.status; out.spawn_error = r.error ? errc(r.error) : null;
    if (r.status === 42) out.executed = true;
  } catch (e) { out.errors.spawnSync = errc(e); }
  try { cp.execFileSync(f, [], { timeout: 2000, stdio: 'ignore' }); } catch (e) { if (e.status === 42) out.executed = true; else out.errors.execFileSync = errc(e); }
} catch (e) { out.errors.setup = errc(e); }
finally { if (dir) { try { fs.rmSync(dir, { recursive: true, force: true }); } catch (_) {} } }
return out;
