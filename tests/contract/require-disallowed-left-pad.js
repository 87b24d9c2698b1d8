// about: require('left-pad') is outside the allowlist: status error, message names the module
// expect-status: error
// expect-error-message-includes: left-pad
const m = require('left-pad');
return typeof m;
