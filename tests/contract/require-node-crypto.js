// about: require('node:crypto') works the same as require('crypto'); randomUUID is a v4 UUID
// expect-status: ok
// expect-result-type: string
// expect-result-matches: [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}
const { randomUUID, createHash } = require('node:crypto');
if (createHash('sha1').update('').digest('hex') !== 'da39a3ee5e6b4b0d3255bfef95601890afd80709') {
  throw new Error('sha1 mismatch');
}
return randomUUID();
