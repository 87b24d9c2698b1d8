// about: require('../x') is outside the allowlist: status error, message names the module
// expect-status: error
// expect-error-message-includes: ../x
const m = require('../x');
return typeof m;
