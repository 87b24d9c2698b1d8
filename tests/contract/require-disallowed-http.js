// about: require('http') is outside the allowlist: status error, message names the module
// expect-status: error
// expect-error-message-includes: http
const m = require('http');
return typeof m;
