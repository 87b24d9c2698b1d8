// about: named import from a disallowed module (child_process) is an error naming the module
// expect-status: error
// expect-error-message-includes: child_process
import { execSync } from 'child_process';
return typeof execSync;
