// process.kill(pid, 0), signal handler for SIGUSR2, /dev/urandom reads, stdout/stderr to pipes
// (large writes), reading stdin from a pipe, fs.readSync/writeSync on inherited pipe fds 3 and 4,
// uncaughtException / unhandledRejection handlers.
// Expects: stdin = pipe containing "stdin-data", fd 3 = pipe containing "fd3-data", fd 4 = writable pipe.
'use strict';
const fs = require('fs');
const assert = require('assert');

(async () => {
  assert.strictEqual(process.kill(process.pid, 0), true);
  // signal watchers are unref'd: keep the loop alive with a timer until the handler runs
  const keep = setTimeout(() => { console.error('SIGUSR2 never arrived'); process.exit(1); }, 5000);
  await new Promise((res) => { process.once('SIGUSR2', res); process.kill(process.pid, 'SIGUSR2'); });
  clearTimeout(keep);
  console.log('ok stdio: process.kill(pid, 0) and SIGUSR2 self-signal handled');

  const fd = fs.openSync('/dev/urandom', 'r');
  const b = Buffer.alloc(4096);
  assert.strictEqual(fs.readSync(fd, b, 0, b.length, null), 4096);
  fs.closeSync(fd);
  const chunks = [];
  for await (const c of fs.createReadStream('/dev/urandom', { start: 0, end: 65535 })) chunks.push(c);
  assert.strictEqual(Buffer.concat(chunks).length, 65536);
  assert.notStrictEqual(b.toString('hex'), Buffer.alloc(4096).toString('hex'));
  console.log('ok stdio: /dev/urandom readSync 4096 + stream 65536 bytes');

  let input = '';
  for await (const c of process.stdin) input += c;
  assert.strictEqual(input, 'stdin-data');
  console.log('ok stdio: stdin pipe read "' + input + '"');

  const fb = Buffer.alloc(64);
  const n = fs.readSync(3, fb, 0, 64, null);
  assert.strictEqual(fb.toString('utf8', 0, n), 'fd3-data');
  assert.strictEqual(fs.writeSync(4, 'fd4-data\n'), 9);
  const w = fs.createWriteStream(null, { fd: 4, autoClose: false });
  await new Promise((res) => w.write('fd4-stream\n', res));
  console.log('ok stdio: fs.readSync(3) "' + fb.toString('utf8', 0, n) + '", fs.writeSync(4) + stream on fd 4');

  const line = 'y'.repeat(1023) + '\n';
  let big = ''; for (let i = 0; i < 1024; i++) big += line;
  await new Promise((res) => process.stdout.write('#' + big, res));
  process.stderr.write('stderr-line\n');
  console.error('console.error works');
  console.log('ok stdio: 1 MiB stdout write + stderr writes');

  await new Promise((res) => {
    process.once('uncaughtException', (e) => { assert.strictEqual(e.message, 'caught-later'); res(); });
    setTimeout(() => { throw new Error('caught-later'); }, 1);
  });
  await new Promise((res) => {
    process.once('unhandledRejection', (r) => { assert.strictEqual(r.message, 'rej'); res(); });
    Promise.reject(new Error('rej'));
  });
  console.log('ok stdio: uncaughtException and unhandledRejection handlers ran');
  console.log('DONE stdio');
})().catch((e) => { console.error(e); process.exitCode = 1; });
