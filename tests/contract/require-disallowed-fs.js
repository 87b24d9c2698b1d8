// about: require('fs') is outside the allowlist: status error, message names the module
// expect-status: error
// expect-error-message-includes: fs
const m = require('fs');
return typeof m;
