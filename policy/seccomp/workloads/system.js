// process.hrtime/performance.now, os.*, process.* info, Intl/Date with time zones, dns.lookup.
'use strict';
const os = require('os');
const dns = require('dns');
const assert = require('assert');

function attempt(label, fn) {
  try { const v = fn(); console.log(`info system: ${label} -> ${typeof v === 'string' ? v : JSON.stringify(v)}`); return v; } catch (e) { console.log(`info system: ${label} failed: ${e.code || e.message}`); return undefined; }
}

(async () => {
  const h0 = process.hrtime.bigint(); const p0 = performance.now();
  const [s, ns] = process.hrtime();
  assert(s >= 0 && ns >= 0);
  await new Promise((r) => setTimeout(r, 10));
  assert(process.hrtime.bigint() > h0);
  assert(performance.now() > p0);
  assert(performance.timeOrigin > 1.6e12);
  console.log(`ok system: hrtime, hrtime.bigint, performance.now (+${(performance.now() - p0).toFixed(1)}ms)`);

  const cpus = os.cpus();
  assert(os.totalmem() > 0 && os.freemem() > 0);
  assert(os.availableParallelism() >= 1);
  assert(typeof os.hostname() === 'string');
  assert(os.uptime() > 0);
  assert.strictEqual(os.loadavg().length, 3);
  assert.strictEqual(os.platform(), 'linux');
  assert(os.release() && os.version() && os.arch() && os.endianness() && os.tmpdir() && os.EOL);
  console.log(`ok system: os cpus=${cpus.length} totalmem=${(os.totalmem() / 2 ** 30).toFixed(1)}G hostname=${os.hostname()} parallelism=${os.availableParallelism()} release=${os.release()}`);
  attempt('os.userInfo().username', () => os.userInfo().username);
  attempt('os.homedir()', () => os.homedir());
  attempt('os.getPriority()', () => os.getPriority());
  attempt('os.networkInterfaces() names', () => Object.keys(os.networkInterfaces()));

  const cu = process.cpuUsage(); const ru = process.resourceUsage(); const mu = process.memoryUsage();
  assert(cu.user >= 0 && ru.maxRSS > 0 && mu.rss > 0);
  assert(process.uptime() > 0);
  assert(typeof process.cwd() === 'string');
  const old = process.umask(0o027); process.umask(old);
  assert(Number.isInteger(process.getuid()) && Number.isInteger(process.geteuid()) && Number.isInteger(process.getgid()));
  attempt('process.getgroups()', () => process.getgroups());
  const cwd = process.cwd(); process.chdir(os.tmpdir()); process.chdir(cwd);
  process.title = 'nodecell-test';
  assert(process.constrainedMemory === undefined || typeof process.constrainedMemory() === 'number');
  console.log(`ok system: cpuUsage/resourceUsage/memoryUsage/umask/ids/chdir (maxRSS=${ru.maxRSS}k)`);
  attempt('process.report summary', () => { const r = process.report.getReport(); return { glibc: r.header.glibcVersionRuntime, cpus: r.header.cpus.length }; });

  const d = new Date(Date.UTC(2024, 6, 1, 12, 0, 0));
  const ny = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', hour: 'numeric', hour12: false }).format(d);
  const kol = d.toLocaleString('en-GB', { timeZone: 'Asia/Kolkata' });
  const ber = d.toLocaleString('de-DE', { timeZone: 'Europe/Berlin' });
  assert.strictEqual(ny, '08');
  assert.strictEqual(kol, '01/07/2024, 17:30:00');
  assert.strictEqual(ber, '1.7.2024, 14:00:00');
  assert.strictEqual(new Intl.NumberFormat('de-DE', { style: 'currency', currency: 'EUR' }).format(1234.5), '1.234,50\u00a0€');
  assert.strictEqual(['b', 'a', 'ä'].sort(new Intl.Collator('de').compare).join(''), 'aäb');
  assert.strictEqual([...new Intl.Segmenter('en', { granularity: 'word' }).segment('hi there')].length, 3);
  assert.strictEqual(new Intl.RelativeTimeFormat('en').format(-1, 'day'), '1 day ago');
  assert(Intl.supportedValuesOf('timeZone').length > 300);
  process.env.TZ = 'Asia/Tokyo';
  assert.strictEqual(new Date(Date.UTC(2024, 0, 1)).getHours(), 9);
  process.env.TZ = 'America/Los_Angeles';
  assert.strictEqual(new Date(Date.UTC(2024, 6, 1)).getTimezoneOffset(), 420);
  console.log(`ok system: Intl/Date NY=${ny}h Kolkata="${kol}" Berlin="${ber}" TZ switch ok, ${Intl.supportedValuesOf('timeZone').length} zones`);

  for (const [name, opts] of [['localhost', {}], ['localhost', { all: true }], ['127.0.0.1', {}]]) {
    try {
      const r = await dns.promises.lookup(name, opts);
      console.log(`info system: dns.lookup(${name}, ${JSON.stringify(opts)}) -> ${JSON.stringify(r)}`);
    } catch (e) { console.log(`info system: dns.lookup(${name}, ${JSON.stringify(opts)}) failed: ${e.code}`); }
  }
  console.log('DONE system');
})().catch((e) => { console.error(e); process.exitCode = 1; });
