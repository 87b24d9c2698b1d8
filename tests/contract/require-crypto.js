// about: require('crypto') hashing and HMAC
// expect-status: ok
// expect-result: {"sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "md5": "5d41402abc4b2a76b9719d911017c592", "hmac": "2d93cbc1be167bcb1637a4a23cbff01a7878f0c50ee833954ea5221bb1b8c628"}
const crypto = require('crypto');
return {
  sha256: crypto.createHash('sha256').update('abc').digest('hex'),
  md5: crypto.createHash('md5').update('hello').digest('hex'),
  hmac: crypto.createHmac('sha256', 'key').update('msg').digest('hex'),
};
