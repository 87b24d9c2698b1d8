'use strict';
// Entry of the runner's V8 startup snapshot. The host builds it (see the
// engine's snapshot.rs) with exactly the flags the sandbox's node gets:
//
//   node --no-addons --snapshot-blob OUT.blob --build-snapshot snapshot.js
//
// and starts sandboxes with `node --no-addons --snapshot-blob OUT.blob`: the
// heap then already holds the runner with its captured built-ins and every
// allowlisted module, and Node calls main.start() instead of loading files.
// Starting costs about as much as a bare `node -e 0` plus the runner's start().
//
// While a snapshot is built, require() only knows built-in modules, so the
// runner's own files and its npm modules are loaded here, each compiled under
// the path it has inside the sandbox (/runner/...), so stack frames and the
// runner's own-frame filter see the same paths as without a snapshot.
// Nothing here may draw randomness (uuid's pool, crypto.randomUUID's cache):
// whatever is in the snapshot is the same in every sandbox.

const fs = require('fs');
const path = require('path');
const vm = require('vm');

const HOST_DIR = __dirname;
const SANDBOX_DIR = '/runner';
const loaded = new Map(); // host path -> module

function resolve(from, id) {
  let file = path.isAbsolute(id)
    ? path.join(HOST_DIR, path.relative(SANDBOX_DIR, id))
    : path.resolve(path.dirname(from), id);
  if (!fs.existsSync(file) && fs.existsSync(file + '.js')) file += '.js';
  return file;
}

function load(file) {
  const known = loaded.get(file);
  if (known !== undefined) return known.exports;
  const module = { exports: {} };
  loaded.set(file, module);
  if (file.endsWith('.json')) {
    module.exports = JSON.parse(fs.readFileSync(file, 'utf8'));
    return module.exports;
  }
  const shown = path.join(SANDBOX_DIR, path.relative(HOST_DIR, file));
  const fn = vm.compileFunction(
    fs.readFileSync(file, 'utf8'),
    ['exports', 'require', 'module', '__filename', '__dirname'],
    { filename: shown },
  );
  const localRequire = (id) =>
    id.startsWith('./') || id.startsWith('../') || path.isAbsolute(id) ? load(resolve(file, id)) : require(id);
  fn.call(module.exports, module.exports, localRequire, module, shown, path.dirname(shown));
  return module.exports;
}

// No snapshot of a Node the runner refuses (sandboxes then start runner.js, which says why).
const refused = load(path.join(HOST_DIR, 'lib', 'node-lines.js')).refusal(process.versions.node);
if (refused !== null) throw new Error(refused);

const main = load(path.join(HOST_DIR, 'lib', 'main.js'));
main.warmUpPure(); // the job path's functions compiled, their bytecode in the snapshot
require('v8').startupSnapshot.setDeserializeMainFunction(() => main.start());
