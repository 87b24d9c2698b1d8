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
// per-module cache), 'table' (the module table) or '<part>.table' (a part of it).
function cacheFile(ext) {
  const flags = process.execArgv.join('\0') + '\u0001' + (process.env.NODE_OPTIONS || '');
  return `${ROOT}/.v8cache/${process.version}-${process.arch}-${fnv1a(flags)}.${ext}`;
}

// --- the module table ------------------------------------------------------
// One file holding what a lazy start loads before user code runs (the
// runner's own modules and allowlist.json): each file's source, wrapped the
// way require() wraps it, and its V8 code cache. One read and no module
// resolution instead of finding, reading and compiling each file through
// require() (and node's `module` is not even loaded). Every entry records the
// size and mtime of its file; if any file changed, the table is not used.
// Modules are compiled under their own paths, so stack frames are the same as
// with require(). Modules needed only by some jobs (acorn, for code without a
// top-level return) are in table files of their own, "parts", read when one
// of their modules is first required; a part that is missing or stale only
// means require() (a part's entries are checked like the table's, so any
// valid part goes with any valid table). Written by lib/cache.js's
// buildTable() (build-cache.js).

const WRAP_HEAD = '(function (exports, require, module, __filename, __dirname) { ';
const WRAP_TAIL = '\n});';

// Runs table modules the way require() would. `files`: absolute path ->
// { source }, or { part } for a module in the part file that readPart(part)
// reads (absolute path -> entry, or null); `compile(filename, entry)` returns
// its vm.Script. A table module requiring
// another one gets it from the table; any other id goes to the real require().
// (This require may run after user code has started, e.g. lodash on first use:
// for such ids it uses only operators and null-prototype lookups, which user
// patches cannot reach. Table modules are all loaded before user code runs.)
function tableLoader(files, compile, readPart = () => null) {
  const loaded = { __proto__: null }; // absolute path -> module
  function fromPart(part) {
    const more = readPart(part);
    for (const name of Object.keys(files)) {
      if (files[name].part !== part) continue;
      if (more !== null && more[name] !== undefined) files[name] = more[name];
      else delete files[name]; // require() then
    }
  }
  function load(filename) {
    const known = loaded[filename];
    if (known !== undefined) return known.exports;
    if (files[filename].part !== undefined) {
      fromPart(files[filename].part);
      if (files[filename] === undefined) return require(filename);
    }
    const module = { exports: {} };
    loaded[filename] = module;
    if (filename.endsWith('.json')) {
      module.exports = JSON.parse(files[filename].source);
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

// A table file read and checked: { header, files } (absolute path -> entry),
// or null when it is missing, garbled, for another node, or any of its files
// changed since the build. Layout: 4-byte big-endian header length, the
// header (JSON: { node, files: [[rel, size, mtimeMs, sourceBytes,
// cacheBytes], …], parts: { name: [rel, …] } (main table only) }), then each
// file's source (UTF-8) and code cache, in that order.
function readTable(file) {
  let blob;
  try {
    blob = fs.readFileSync(file);
  } catch (_) {
    return null;
  }
  const files = { __proto__: null };
  let header;
  try {
    const headerBytes = blob.readUInt32BE(0);
    header = JSON.parse(blob.toString('utf8', 4, 4 + headerBytes));
    if (header.node !== process.version) return null;
    let offset = 4 + headerBytes;
    for (const [rel, size, mtimeMs, sourceBytes, cacheBytes] of header.files) {
      const filename = `${ROOT}/${rel}`;
      const st = fs.statSync(filename);
      if (st.size !== size || st.mtimeMs !== mtimeMs) return null; // changed since the build
      const source = blob.toString('utf8', offset, offset + sourceBytes);
      offset += sourceBytes;
      files[filename] = { source, cachedData: cacheBytes > 0 ? blob.subarray(offset, offset + cacheBytes) : undefined };
      offset += cacheBytes;
    }
    if (offset !== blob.length) return null; // truncated
  } catch (_) {
    return null; // garbled, or a file is gone
  }
  return { header, files };
}

// lib/main.js loaded from the table, or null when there is no usable table.
function mainFromTable() {
  const table = readTable(cacheFile('table'));
  if (table === null) return null;
  const { files } = table;
  const parts = table.header.parts || {};
  for (const part of Object.keys(parts)) {
    for (const rel of parts[part]) files[`${ROOT}/${rel}`] = { part };
  }
  const readPart = (part) => {
    const t = readTable(cacheFile(`${part}.table`));
    return t === null ? null : t.files;
  };
  // (A code cache that V8 rejects all the same only means compiling that module.)
  const load = tableLoader(files, (filename, entry) =>
    new vm.Script(entry.source, { filename, cachedData: entry.cachedData }), readPart);
  return load(`${ROOT}/lib/main.js`);
}

// `--no-caches` (the host found .v8cache writable by someone else: a planted table
// would be run as the runner itself): the runner's files only.
function loadMain() {
  const caches = !process.argv.includes('--no-caches');
  const main = caches && process.argv.includes('--lazy-modules') ? mainFromTable() : null;
  if (main !== null) return main;
  if (!caches) return require('./lib/main');
  const cache = require('./lib/cache');
  cache.install(cacheFile('bin')); // V8 code cache for the modules below, if one was built
  const m = require('./lib/main'); // captures built-ins, pre-loads modules
  cache.uninstall();
  return m;
}

// `--zygote=ADDON`: this Node is a zygote (crates/nodecell/src/launch/zygote.rs). It loads
// the runner as for a job, then, instead of reading one, serves fork requests through the
// addon; each child, confined by the addon, returns from serve() with its pid and runs one
// job (serve() returns false in the zygote once the host is done with it). Null for a plain
// runner.
function zygoteAddon() {
  const arg = process.argv.find((a) => a.startsWith('--zygote='));
  if (arg === undefined) return null;
  const addon = { exports: {} };
  process.dlopen(addon, arg.slice('--zygote='.length));
  return addon.exports;
}

// A child loads no addon, as with --no-addons (which the zygote could not have): every
// mount it sees is noexec but Node's own binary and libraries, and its zygote's addon is
// hidden; this makes it the same error as in a plain sandbox.
function noAddons() {
  process.dlopen = function dlopen() {
    const err = new Error('Cannot load native addon because loading addons is disabled.');
    err.code = 'ERR_DLOPEN_DISABLED';
    throw err;
  };
}

// What a child must not share with its zygote and siblings: Math.random's state is seeded
// on a context's first call, from V8's own generator (the zygote's, copied) unless
// --random-seed is set, so each child sets it from the kernel's generator first. (OpenSSL,
// behind crypto, reseeds by itself: its state notices the new pid.)
function reseedChild() {
  const seed = require('crypto').randomFillSync(new Int32Array(1))[0] || 1;
  require('v8').setFlagsFromString(`--random-seed=${seed}`);
}

// process.pid is the child's own (Node read it once, in the zygote).
function ownPid(pid) {
  Object.defineProperty(process, 'pid', { value: pid, writable: false, enumerable: true, configurable: true });
}

// process.uptime() counts from the child's fork, as it would from a plain sandbox's start
// (not from its zygote's).
function rebaseUptime() {
  const sinceZygote = process.uptime;
  const forkedAt = sinceZygote();
  process.uptime = function uptime() {
    return sinceZygote() - forkedAt;
  };
}

if (require.main === module) {
  const lines = require('./lib/node-lines');
  const refused = lines.refusal(process.versions.node);
  if (refused !== null) {
    process.stderr.write(refused + '\n');
    process.exit(lines.EXIT_UNSUPPORTED);
  }
  // A zygote compiles every function of the runner and its modules as it loads them: its
  // children inherit the bytecode instead of each compiling what its job calls first (a
  // child's job ran ~0.5 ms faster, with ~180 fewer copy-on-write faults).
  const eager = process.argv.some((a) => a.startsWith('--zygote='));
  if (eager) require('v8').setFlagsFromString('--no-lazy');
  const main = loadMain();
  if (eager) require('v8').setFlagsFromString('--lazy');
  const zygote = zygoteAddon();
  if (zygote !== null) {
    main.warmUp(); // compiled once here, inherited by every child
    require('./lib/protocol').writeFrame('{"type":"ready"}'); // to the host, on fd 4
    const pid = zygote.serve();
    if (pid === false) process.reallyExit(0); // the host closed the control socket
    ownPid(pid);
    noAddons();
    reseedChild();
    rebaseUptime();
  }
  main.start();
} else {
  // for lib/cache.js (building the caches), tests and benchmarks
  module.exports = { ROOT, WRAP_HEAD, WRAP_TAIL, cacheFile, tableLoader, mainFromTable };
}
