// Filesystem work in a temp dir under os.tmpdir(): sync, callback, fs.promises and streams.
'use strict';
const fs = require('fs');
const fsp = require('fs/promises');
const os = require('os');
const path = require('path');
const assert = require('assert');
const { pipeline } = require('stream/promises');

(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-fs-'));
  try {
    // sync API
    fs.mkdirSync(path.join(dir, 'a/b/c'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'a/x.txt'), 'hello');
    fs.appendFileSync(path.join(dir, 'a/x.txt'), ' world');
    assert.strictEqual(fs.readFileSync(path.join(dir, 'a/x.txt'), 'utf8'), 'hello world');
    fs.renameSync(path.join(dir, 'a/x.txt'), path.join(dir, 'a/b/y.txt'));
    const st = fs.statSync(path.join(dir, 'a/b/y.txt'));
    assert(st.isFile() && st.size === 11);
    assert(fs.lstatSync(path.join(dir, 'a')).isDirectory());
    assert(fs.existsSync(path.join(dir, 'a/b/c')));
    fs.accessSync(path.join(dir, 'a/b/y.txt'), fs.constants.R_OK | fs.constants.W_OK);
    fs.copyFileSync(path.join(dir, 'a/b/y.txt'), path.join(dir, 'a/copy.txt'));
    fs.symlinkSync('b/y.txt', path.join(dir, 'a/link'));
    fs.linkSync(path.join(dir, 'a/copy.txt'), path.join(dir, 'a/hard'));
    assert.strictEqual(fs.statSync(path.join(dir, 'a/hard')).nlink, 2);
    fs.unlinkSync(path.join(dir, 'a/hard'));
    assert(fs.statfsSync(dir).bsize > 0);
    assert.strictEqual(fs.readlinkSync(path.join(dir, 'a/link')), 'b/y.txt');
    assert.strictEqual(fs.realpathSync(path.join(dir, 'a/link')), fs.realpathSync(path.join(dir, 'a/b/y.txt')));
    fs.chmodSync(path.join(dir, 'a/copy.txt'), 0o600);
    fs.utimesSync(path.join(dir, 'a/copy.txt'), 1000, 2000);
    assert.strictEqual(fs.statSync(path.join(dir, 'a/copy.txt')).mtimeMs, 2000000);
    fs.truncateSync(path.join(dir, 'a/copy.txt'), 5);
    const fd = fs.openSync(path.join(dir, 'a/fd.bin'), 'w+');
    fs.writeSync(fd, Buffer.from('0123456789'));
    fs.writeSync(fd, 'AB', 3);
    fs.ftruncateSync(fd, 8);
    fs.fsyncSync(fd);
    fs.fdatasyncSync(fd);
    fs.fchmodSync(fd, 0o644);
    fs.futimesSync(fd, 5, 6);
    const b = Buffer.alloc(8);
    fs.readSync(fd, b, 0, 8, 0);
    assert.strictEqual(b.toString(), '012AB567');
    assert.strictEqual(fs.fstatSync(fd).size, 8);
    fs.writevSync(fd, [Buffer.from('x'), Buffer.from('y')], 0);
    fs.readvSync(fd, [b], 0);
    fs.closeSync(fd);
    assert.deepStrictEqual(fs.readdirSync(path.join(dir, 'a')).sort(), ['b', 'copy.txt', 'fd.bin', 'link']);
    assert.strictEqual(fs.readdirSync(path.join(dir, 'a'), { withFileTypes: true }).filter((d) => d.isDirectory()).length, 1);
    const d = fs.opendirSync(path.join(dir, 'a')); let n = 0; while (d.readSync()) n++; d.closeSync();
    assert.strictEqual(n, 4);
    fs.unlinkSync(path.join(dir, 'a/link'));
    fs.rmdirSync(path.join(dir, 'a/b/c'));
    console.log('ok fs: sync mkdir/write/append/rename/stat/copy/symlink/link/statfs/chmod/utimes/truncate/fsync/readdir/opendir/unlink/rmdir');

    // callback API
    await new Promise((res, rej) => fs.writeFile(path.join(dir, 'cb.txt'), 'cb', (e) => e ? rej(e) : fs.readFile(path.join(dir, 'cb.txt'), 'utf8', (e2, s) => { if (e2) return rej(e2); assert.strictEqual(s, 'cb'); res(); })));
    await new Promise((res, rej) => fs.stat(path.join(dir, 'cb.txt'), (e, s) => e ? rej(e) : (assert(s.isFile()), res())));
    await new Promise((res, rej) => fs.readdir(dir, (e, l) => e ? rej(e) : (assert(l.includes('cb.txt')), res())));
    console.log('ok fs: callback writeFile/readFile/stat/readdir');

    // fs.promises
    const p = path.join(dir, 'p');
    await fsp.mkdir(path.join(p, 'q'), { recursive: true });
    await fsp.writeFile(path.join(p, 'q/z.json'), JSON.stringify({ v: 1 }));
    assert.strictEqual(JSON.parse(await fsp.readFile(path.join(p, 'q/z.json'), 'utf8')).v, 1);
    await fsp.rename(path.join(p, 'q/z.json'), path.join(p, 'z.json'));
    assert((await fsp.stat(path.join(p, 'z.json'))).isFile());
    await fsp.appendFile(path.join(p, 'z.json'), '\n');
    const fh = await fsp.open(path.join(p, 'z.json'), 'r+');
    await fh.write('{"v":2}', 0);
    await fh.sync();
    await fh.truncate(7);
    const rd = await fh.read(Buffer.alloc(7), 0, 7, 0);
    assert.strictEqual(rd.buffer.toString(), '{"v":2}');
    await fh.close();
    await fsp.copyFile(path.join(p, 'z.json'), path.join(p, 'z2.json'));
    await fsp.cp(path.join(p, 'q'), path.join(p, 'q2'), { recursive: true });
    assert.deepStrictEqual((await fsp.readdir(p)).sort(), ['q', 'q2', 'z.json', 'z2.json']);
    await fsp.access(path.join(p, 'z2.json'));
    await fsp.chmod(path.join(p, 'z2.json'), 0o400);
    await fsp.utimes(path.join(p, 'z2.json'), new Date(), new Date());
    await fsp.unlink(path.join(p, 'z2.json'));
    const t = await fsp.mkdtemp(path.join(dir, 't-'));
    await fsp.rm(t, { recursive: true });
    for await (const ent of await fsp.opendir(p)) assert(ent.name);
    await fsp.realpath(p);
    console.log('ok fs: promises mkdir/writeFile/readFile/rename/stat/open/sync/truncate/copyFile/cp/readdir/access/chmod/utimes/unlink/mkdtemp/rm/opendir');

    // streams: write 4 MB, gzip-free copy via pipeline, line-by-line read
    const big = path.join(dir, 'big.txt');
    await new Promise((res, rej) => {
      const ws = fs.createWriteStream(big);
      ws.on('error', rej).on('finish', res);
      for (let i = 0; i < 100000; i++) ws.write(`line ${i} ${'x'.repeat(30)}\n`);
      ws.end();
    });
    await pipeline(fs.createReadStream(big), fs.createWriteStream(path.join(dir, 'big2.txt')));
    const rl = require('readline').createInterface({ input: fs.createReadStream(path.join(dir, 'big2.txt')), crlfDelay: Infinity });
    let lines = 0; for await (const _ of rl) lines++;
    assert.strictEqual(lines, 100000);
    assert.strictEqual(fs.statSync(big).size, fs.statSync(path.join(dir, 'big2.txt')).size);
    console.log(`ok fs: streams wrote/copied/read ${lines} lines (${fs.statSync(big).size} bytes)`);

    // fs.watch is not something the policy supports (inotify is not allowed): report only.
    try { const w = fs.watch(dir); w.close(); console.log('info fs: fs.watch available'); } catch (e) { console.log('info fs: fs.watch unavailable: ' + e.code); }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert(!fs.existsSync(dir));
  console.log('DONE fs');
})().catch((e) => { console.error(e); process.exitCode = 1; });
