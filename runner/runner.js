'use strict';
// nodecell runner: runs exactly one untrusted JavaScript job, then exits.
//
//   node --no-addons /runner/runner.js      (cwd /tmp, clean env)
//
// fd 3 = job channel (read), fd 4 = event channel (write), fds 1/2 are the
// user's stdout/stderr, fd 0 is /dev/null. See README.md.
//
// This file only loads lib/main.js: with `--lazy-modules` (one job, already
// waiting) from the module table below if build-cache.js wrote a usable one,
// otherwise through require(), with lib/cache.js's V8 code cache if one was built.

const fs = require('fs');
const path = require('path');
const vm = require('vm');

const ROOT = __dirname;

function fnv1a(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

// .v8cache/<node version>-<arch>-<hash of execArgv + NODE_OPTIONS>.<ext>: V8
// rejects a code cache made with other flags. `ext` is 'bin' (lib/cache.js's
// per-module cache) or 'table' (the module table).
function cacheFile(ext) {
  const flags = process.execArgv.join('\0') + '\u0001' + (process.env.NODE_OPTIONS || '');
  return `${ROOT}/.v8cache/${process.version}-${process.arch}-${fnv1a(flags)}.${ext}`;
}

// --- the module table ------------------------------------------------------
// One file holding what a lazy start loads before the job (the runner's own
// modules, allowlist.json and acorn): each file's source, wrapped the way
// require() wraps it, and its V8 code cache. One read and no module
// resolution instead of finding, reading and compiling each file through
// require() (and node's `module` is not even loaded). Every entry records the
// size and mtime of its file; if any file changed, the table is not used.
// Modules are compiled under their own paths, so stack frames are the same as
// with require(). Written by lib/cache.js's buildTable() (build-cache.js).

const WRAP_HEAD = '(function (exports, require, module, __filename, __dirname) { ';
const WRAP_TAIL = '\n});';

// A table entry's source: { source } as given, or { blob, start, end } to decode.
function tableSource(entry) {
  if (entry.source === undefined) entry.source = entry.blob.toString('utf8', entry.start, entry.end);
  return entry.source;
}

// Runs table modules the way require() would. `files`: absolute path ->
// { source }; `compile(filename, entry)` returns its vm.Script. A table module
// requiring another one gets it from the table; any other id goes to the real
// require(). (This require may run after user code has started, e.g. lodash on
// first use: for such ids it uses only operators and null-prototype lookups,
// which user patches cannot reach.)
function tableLoader(files, compile) {
  const loaded = { __proto__: null }; // absolute path -> module
  function load(filename) {
    const known = loaded[filename];
    if (known !== undefined) return known.exports;
    const module = { exports: {} };
    loaded[filename] = module;
    if (filename.endsWith('.json')) {
      module.exports = JSON.parse(tableSource(files[filename]));
      return module.exports;
    }
    const dirname = path.dirname(filename);
    const localRequire = (id) => {
      const file = typeof id === 'string' && id[0] === '.' ? path.resolve(dirname, id) : id;
      if (typeof file === 'string') {
        if (files[file] !== undefined) return load(file);
        if (files[file + '.js'] !== undefined) return load(file + '.js');
        if (files[file + '.json'] !== undefined) return load(file + '.json');
      }
      return require(file); // (relative ids made absolute: this require is runner.js's)
    };
    const fn = compile(filename, files[filename]).runInThisContext({ displayErrors: true });
    fn.call(module.exports, module.exports, localRequire, module, filename, dirname);
    return module.exports;
  }
  return load;
}

// lib/main.js loaded from the table, or null when there is no usable table.
// Layout: 4-byte big-endian header length, the header (JSON:
// { node, files: [[rel, size, mtimeMs, sourceBytes, cacheBytes], …] }),
// then each file's source (UTF-8) and code cache, in that order.
function mainFromTable() {
  let blob;
  try {
    blob = fs.readFileSync(cacheFile('table'));
  } catch (_) {
    return null;
  }
  const files = { __proto__: null };
  try {
    const headerBytes = blob.readUInt32BE(0);
    const header = JSON.parse(blob.toString('utf8', 4, 4 + headerBytes));
    if (header.node !== process.version) return null;
    let offset = 4 + headerBytes;
    for (const [rel, size, mtimeMs, sourceBytes, cacheBytes] of header.files) {
      const filename = `${ROOT}/${rel}`;
      const st = fs.statSync(filename);
      if (st.size !== size || st.mtimeMs !== mtimeMs) return null; // changed since the build
      // (Decoded when loaded: a module the job never needs costs nothing.)
      files[filename] = { blob, start: offset, end: offset + sourceBytes };
      offset += sourceBytes;
      files[filename].cachedData = cacheBytes > 0 ? blob.subarray(offset, offset + cacheBytes) : undefined;
      offset += cacheBytes;
    }
    if (offset !== blob.length) return null; // truncated
  } catch (_) {
    return null; // garbled, or a file is gone
  }
  // (A code cache that V8 rejects all the same only means compiling that module.)
  const load = tableLoader(files, (filename, entry) =>
    new vm.Script(tableSource(entry), { filename, cachedData: entry.cachedData }));
  return load(`${ROOT}/lib/main.js`);
}

function loadMain() {
  const main = process.argv.includes('--lazy-modules') ? mainFromTable() : null;
  if (main !== null) return main;
  const cache = require('./lib/cache');
  cache.install(cacheFile('bin')); // V8 code cache for the modules below, if one was built
  const m = require('./lib/main'); // captures built-ins, pre-loads modules
  cache.uninstall();
  return m;
}

if (require.main === module) {
  loadMain().start();
} else {
  // for lib/cache.js (building the caches), tests and benchmarks
  module.exports = { ROOT, WRAP_HEAD, WRAP_TAIL, cacheFile, tableLoader, mainFromTable };
}
