// about: the node: prefix works for several allowed built-ins
// expect-status: ok
// expect-result: ["function", "function", "function", "a=1", "x y"]
const { Buffer } = require('node:buffer');
const util = require('node:util');
const EventEmitter = require('node:events');
const qs = require('node:querystring');
const { StringDecoder } = require('node:string_decoder');
const d = new StringDecoder('utf8');
return [typeof Buffer.from, typeof util.format, typeof EventEmitter, qs.stringify({ a: 1 }), d.write(Buffer.from('x y'))];
