// about: require('/etc/passwd') is outside the allowlist: status error, message names the module
// expect-status: error
// expect-error-message-includes: /etc/passwd
const m = require('/etc/passwd');
return typeof m;
