// about: require('node:fs') is outside the allowlist: status error, message names the module
// expect-status: error
// expect-error-message-includes: fs
const m = require('node:fs');
return typeof m;
