// about: importing a module outside the allowlist (fs) is an error naming the module
// expect-status: error
// expect-error-message-includes: fs
import fs from 'fs';
return typeof fs.readFileSync;
