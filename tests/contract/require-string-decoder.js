// about: require('string_decoder') joins a multi-byte character split across chunks
// expect-status: ok
// expect-result: ["", "€", "€"]
const { StringDecoder } = require('string_decoder');
const { Buffer } = require('buffer');
const d = new StringDecoder('utf8');
const first = d.write(Buffer.from([0xe2, 0x82]));
const second = d.write(Buffer.from([0xac]));
return [first, second, first + second];
