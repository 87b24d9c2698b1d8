// crypto (randomBytes, createHash, HMAC, subtle digest, randomUUID, RSA-1024 keygen, sign/verify,
// AES-GCM, scrypt/pbkdf2 on the threadpool) and zlib gzip/gunzip/brotli, sync and async.
'use strict';
const crypto = require('crypto');
const zlib = require('zlib');
const assert = require('assert');
const { promisify } = require('util');

(async () => {
  const rb = crypto.randomBytes(32);
  assert.strictEqual(rb.length, 32);
  const rba = await promisify(crypto.randomBytes)(64);
  assert.strictEqual(rba.length, 64);
  const h = crypto.createHash('sha256').update('abc').digest('hex');
  assert.strictEqual(h, 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  const hm = crypto.createHmac('sha1', 'k').update('v').digest('hex');
  assert.strictEqual(hm.length, 40);
  const sd = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode('abc'))).toString('hex');
  assert.strictEqual(sd, h);
  const u = crypto.randomUUID();
  assert.match(u, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const arr = crypto.getRandomValues(new Uint32Array(4));
  assert.strictEqual(arr.length, 4);
  console.log(`ok crypto: sha256(abc)=${h.slice(0, 16)}.. subtle matches, uuid=${u}`);
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
  const sig = crypto.sign('sha256', Buffer.from('msg'), privateKey);
  assert(crypto.verify('sha256', Buffer.from('msg'), publicKey, sig));
  console.log(`ok crypto: rsa-1024 keygen+sign+verify (${publicKey.asymmetricKeyDetails.modulusLength} bits)`);
  const kp = await promisify(crypto.generateKeyPair)('ec', { namedCurve: 'P-256' });
  assert.strictEqual(kp.publicKey.asymmetricKeyType, 'ec');
  const key = crypto.randomBytes(32), iv = crypto.randomBytes(12);
  const c = crypto.createCipheriv('aes-256-gcm', key, iv);
  const ct = Buffer.concat([c.update('secret'), c.final()]);
  const d = crypto.createDecipheriv('aes-256-gcm', key, iv); d.setAuthTag(c.getAuthTag());
  assert.strictEqual(Buffer.concat([d.update(ct), d.final()]).toString(), 'secret');
  const sk = await promisify(crypto.scrypt)('pw', 'salt', 32);
  const pk = await promisify(crypto.pbkdf2)('pw', 'salt', 1000, 32, 'sha256');
  assert.strictEqual(sk.length + pk.length, 64);
  const wk = await crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, true, ['sign', 'verify']);
  const ws = await crypto.subtle.sign('HMAC', wk, new Uint8Array([1, 2, 3]));
  assert(await crypto.subtle.verify('HMAC', wk, ws, new Uint8Array([1, 2, 3])));
  console.log('ok crypto: ec keygen (async), aes-gcm, scrypt, pbkdf2, subtle hmac');

  const input = Buffer.from('nodecell '.repeat(100000));
  const gz = zlib.gzipSync(input);
  assert(zlib.gunzipSync(gz).equals(input));
  const gz2 = await promisify(zlib.gzip)(input);
  assert((await promisify(zlib.gunzip)(gz2)).equals(input));
  const br = await promisify(zlib.brotliCompress)(input);
  assert(zlib.brotliDecompressSync(br).equals(input));
  const df = zlib.deflateRawSync(input, { level: 9 });
  assert(zlib.inflateRawSync(df).equals(input));
  const chunks = [];
  await new Promise((res, rej) => {
    const g = zlib.createGzip(); const un = zlib.createGunzip();
    g.pipe(un).on('data', (c2) => chunks.push(c2)).on('end', res).on('error', rej);
    g.end(input);
  });
  assert(Buffer.concat(chunks).equals(input));
  console.log(`ok zlib: gzip ${input.length}->${gz.length} bytes, gunzip/brotli/deflateRaw/stream round-trips`);
  console.log('DONE crypto_zlib');
})().catch((e) => { console.error(e); process.exitCode = 1; });
