// about: require('./local') is outside the allowlist: status error, message names the module
// expect-status: error
// expect-error-message-includes: ./local
const m = require('./local');
return typeof m;
