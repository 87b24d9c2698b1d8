// about: sabotage serialisation before returning: JSON.stringify/JSON.parse rewrite "genuine" to "forged!", Object.prototype.toJSON and Array.prototype.toJSON forge values, Buffer.byteLength lies
// expect-status: ok
// expect-result-has: {"real": true, "marker": "genuine", "list": [1, 2, 3]}
// control: skip protocol robustness does not depend on the sandbox
// limits: {"timeout_ms": 5000, "memory_mib": 128}
const realStringify = JSON.stringify;
const realParse = JSON.parse;
const swap = (s) => (typeof s === 'string' ? s.split('genuine').join('forged!') : s);
JSON.stringify = function (...a) { return swap(realStringify.apply(JSON, a)); };
JSON.parse = function (s, ...a) { return realParse.call(JSON, swap(s), ...a); };
Object.defineProperty(Object.prototype, 'toJSON', {
  configurable: true, writable: true, enumerable: false,
  value: function () { if (this && this.marker === 'genuine') { const c = Object.assign({}, this); c.marker = 'forged!'; return c; } return this; },
});
Object.defineProperty(Array.prototype, 'toJSON', { configurable: true, writable: true, enumerable: false, value: function () { return ['forged!']; } });
const realByteLength = Buffer.byteLength;
Buffer.byteLength = function (...a) { return realByteLength.apply(Buffer, a) + 7; };
return { real: true, marker: 'genuine', list: [1, 2, 3] };
