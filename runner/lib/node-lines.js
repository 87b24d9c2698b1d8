'use strict';
// The Node.js lines the runner supports: maintained LTS lines on which it, its
// snapshot and code caches, the seccomp policy and every corpus were verified.
// crates/nodecell/src/node_version.rs and package.json's `engines` say the
// same; a unit test there keeps the three equal.

const SUPPORTED = [22, 24, 26];
// Exit status of a runner that refuses its Node (EX_CONFIG).
const EXIT_UNSUPPORTED = 78;

// null for a supported `process.versions.node`, else why not.
function refusal(version) {
  const major = Number(String(version).split('.')[0]);
  if (SUPPORTED.includes(major)) return null;
  const names = SUPPORTED.map(String);
  const list = names.slice(0, -1).join(', ') + ' or ' + names[names.length - 1];
  return `nodecell runner: Node.js v${version} is not supported: it runs on Node.js ${list}`;
}

module.exports = { SUPPORTED, EXIT_UNSUPPORTED, refusal };
