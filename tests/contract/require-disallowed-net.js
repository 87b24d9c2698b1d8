// about: require('net') is outside the allowlist: status error, message names the module
// expect-status: error
// expect-error-message-includes: net
const m = require('net');
return typeof m;
