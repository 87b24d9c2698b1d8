// about: require('child_process') is outside the allowlist: status error, message names the module
// expect-status: error
// expect-error-message-includes: child_process
const m = require('child_process');
return typeof m;
