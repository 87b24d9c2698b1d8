// child_process: spawnSync/execFileSync of node itself, async spawn with piped stdio,
// a detached spawn, fork() with an IPC channel, kill()ing a child, spawnSync timeout.
// Run inside `unshare --pid --fork --kill-child --mount-proc`.
'use strict';
const cp = require('child_process');
const assert = require('assert');

if (process.argv[2] === 'ipc-child') {
  process.on('message', (m) => { process.send({ got: m, pid: process.pid }); process.disconnect(); });
  return;
}

(async () => {
  const r1 = cp.spawnSync(process.execPath, ['-e', '1']);
  assert.strictEqual(r1.status, 0, 'spawnSync status ' + r1.status + ' ' + r1.stderr);
  const r2 = cp.spawnSync(process.execPath, ['-e', 'console.log(6*7); console.error("e")'], { encoding: 'utf8' });
  assert.strictEqual(r2.stdout.trim(), '42');
  assert.strictEqual(r2.stderr.trim(), 'e');
  const r3 = cp.execFileSync(process.execPath, ['-p', '1+1'], { encoding: 'utf8' });
  assert.strictEqual(r3.trim(), '2');
  const r4 = cp.spawnSync(process.execPath, ['-e', 'process.exit(5)']);
  assert.strictEqual(r4.status, 5);
  console.log('ok child: spawnSync(node -e 1) status=0, captured stdout=42, execFileSync=2, exit status 5');

  const c = cp.spawn(process.execPath, ['-e', 'process.stdin.on("data", d => process.stdout.write(String(d).toUpperCase()))']);
  let out = '';
  c.stdout.on('data', (d) => { out += d; });
  c.stdin.end('piped input');
  const code = await new Promise((res) => c.on('close', res));
  assert.strictEqual(code, 0);
  assert.strictEqual(out, 'PIPED INPUT');
  console.log('ok child: async spawn with stdin/stdout pipes -> ' + out);

  const d = cp.spawn(process.execPath, ['-e', 'setTimeout(() => process.exit(process.pid === require("process").pid ? 0 : 1), 50)'], { detached: true, stdio: 'ignore' });
  const dcode = await new Promise((res) => d.on('exit', res));
  assert.strictEqual(dcode, 0);
  console.log(`ok child: detached spawn pid=${d.pid} exited ${dcode}`);

  const f2 = cp.fork(__filename, ['ipc-child']);
  f2.send('ping');
  const reply2 = await new Promise((res) => f2.once('message', res));
  assert.strictEqual(reply2.got, 'ping');
  const fcode = await new Promise((res) => f2.on('exit', res));
  assert.strictEqual(fcode, 0);
  console.log(`ok child: fork() IPC round-trip got=${reply2.got} from pid ${reply2.pid}`);

  const k = cp.spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
  await new Promise((res) => setTimeout(res, 100));
  k.kill('SIGTERM');
  const sig = await new Promise((res) => k.on('exit', (_c, s) => res(s)));
  assert.strictEqual(sig, 'SIGTERM');
  const t = cp.spawnSync(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { timeout: 300 });
  assert.strictEqual(t.signal, 'SIGTERM');
  console.log('ok child: kill(SIGTERM) and spawnSync timeout both delivered ' + sig);

  try {
    const sh = cp.execSync('echo via-shell', { encoding: 'utf8' }).trim();
    console.log('info child: execSync via /bin/sh -> ' + sh);
  } catch (e) { console.log('info child: execSync via /bin/sh failed: ' + (e.code || e.message)); }
  console.log('DONE child');
})().catch((e) => { console.error(e); process.exitCode = 1; });
