// about: require('buffer') Buffer encodings
// expect-status: ok
// expect-result: ["aGVsbG8=", "68656c6c6f", "hello", 5]
const { Buffer } = require('buffer');
const b = Buffer.from('hello');
return [b.toString('base64'), b.toString('hex'), Buffer.from('aGVsbG8=', 'base64').toString('utf8'), b.length];
