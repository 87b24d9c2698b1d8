// about: Error objects are rendered like util.inspect (stack replaced with fixed text so the message is deterministic)
// expect-status: ok
// expect-logs: [{"level": "error", "message": "Error: boom\n    at fixed (user.js:1:1)"}, {"level": "log", "message": "caught: [TypeError: bad]"}, {"level": "warn", "message": "[Error: x] { code: 'E_X' }"}, {"level": "log", "message": "{ err: [Error: y] }"}]
const e1 = new Error('boom');
e1.stack = 'Error: boom\n    at fixed (user.js:1:1)';
console.error(e1);
const e2 = new TypeError('bad');
e2.stack = 'TypeError: bad';
console.log('caught:', e2);
const e3 = new Error('x');
e3.stack = 'Error: x';
e3.code = 'E_X';
console.warn(e3);
const e4 = new Error('y');
e4.stack = 'Error: y';
console.log({ err: e4 });
