// about: require('util') format and inspect
// expect-status: ok
// expect-result: ["a=1", "{ a: [ 1, { b: 2 } ] }", true]
const util = require('util');
return [util.format('%s=%d', 'a', 1), util.inspect({ a: [1, { b: 2 }] }), util.isDeepStrictEqual({ x: [1] }, { x: [1] })];
