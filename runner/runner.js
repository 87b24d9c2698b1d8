'use strict';
// nodecell runner: runs exactly one untrusted JavaScript job, then exits.
//
//   node --no-addons /runner/runner.js      (cwd /tmp, clean env)
//
// fd 3 = job channel (read), fd 4 = event channel (write), fds 1/2 are the
// user's stdout/stderr, fd 0 is /dev/null. See README.md.

const cache = require('./lib/cache');

cache.install(); // V8 code cache for the modules below, if one was built
const main = require('./lib/main'); // captures built-ins, pre-loads modules
cache.uninstall();

if (require.main === module) main.start();
