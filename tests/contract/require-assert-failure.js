// about: a failing assert.strictEqual surfaces as an AssertionError with its line
// expect-status: error
// expect-error-has: {"name": "AssertionError", "line": 3}
// expect-error-message-includes: 1 !== 2
const assert = require('assert');
const got = 1;
assert.strictEqual(got, 2);
