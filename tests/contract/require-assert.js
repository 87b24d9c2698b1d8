// about: require('assert') passing assertions do not throw
// expect-status: ok
// expect-result: "passed"
const assert = require('assert');
assert.strictEqual(1 + 1, 2);
assert.deepStrictEqual({ a: [1, 2] }, { a: [1, 2] });
assert.ok(true);
'passed'
