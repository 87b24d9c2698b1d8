'use strict';
// Optional V8 code caches, built ahead of time by `node build-cache.js` (npm's
// postinstall), stored read-only next to the runner in .v8cache/, used when
// present and accepted by V8; otherwise modules compile as usual. They only
// change how fast startup is, never what runs. Two of them:
//  - the per-module cache (.bin) for everything an eager start loads (its own
//    lib/ files, acorn, lodash, dayjs, uuid), used through require() below;
//  - the module table (.table, see runner.js) for what a lazy start loads
//    before the job, with the sources themselves, loaded without require().
//
// V8 rejects a cache made with other V8 flags, so the file names are keyed by
// node version, arch, execArgv and NODE_OPTIONS: build them with the same
// flags the host passes to node. V8 itself only checks the source *length*,
// so each entry also records the size and modification time of the file it
// was made from and is ignored when the file has changed since (a stat costs
// far less at startup than hashing the sources, which needs `crypto`).

function stamp(filename) {
  const st = fs.statSync(filename);
  return st.size + ':' + st.mtimeMs;
}

const fs = require('fs');
const path = require('path');
const vm = require('vm');
const Module = require('module');

const ROOT = path.join(__dirname, '..');
const DIR = path.join(ROOT, '.v8cache');

// This node's and these flags' cache file (runner.js names both cache files).
function cacheFile() {
  return require('../runner').cacheFile('bin');
}

let originalCompile = null;
let mode = null; // 'use' | 'build'
let entries = null; // use: rel -> { data, stamp }; build: rel -> { script, stamp }
const stats = { hits: 0, rejected: 0, misses: 0 };

function makeRequire(mod) {
  const req = (id) => mod.require(id);
  req.resolve = (request, options) => Module._resolveFilename(request, mod, false, options);
  req.main = process.mainModule;
  req.extensions = Module._extensions;
  req.cache = Module._cache;
  return req;
}

function compileWithCache(content, filename) {
  const rel = path.relative(ROOT, filename);
  let cachedData;
  if (mode === 'use') {
    const entry = entries.get(rel);
    if (entry === undefined || entry.stamp !== stamp(filename)) {
      stats.misses++;
      return originalCompile.call(this, content, filename);
    }
    cachedData = entry.data;
  } else if (rel.startsWith('..')) {
    return originalCompile.call(this, content, filename);
  }
  const script = new vm.Script(Module.wrap(content), { filename, cachedData });
  if (mode === 'use') {
    if (script.cachedDataRejected) stats.rejected++; else stats.hits++;
  } else {
    entries.set(rel, { script, stamp: stamp(filename) });
  }
  const fn = script.runInThisContext({ displayErrors: true });
  return fn.call(this.exports, this.exports, makeRequire(this), this, filename, path.dirname(filename));
}

function patch() {
  originalCompile = Module.prototype._compile;
  Module.prototype._compile = compileWithCache;
}

// Runner startup: use the cache if there is one for this node + flags.
function install(file = cacheFile()) {
  if (mode !== null) return;
  let blob;
  try {
    blob = fs.readFileSync(file);
  } catch (_) {
    return;
  }
  try {
    const headerLen = blob.readUInt32BE(0);
    const index = JSON.parse(blob.toString('utf8', 4, 4 + headerLen));
    const base = 4 + headerLen;
    if (index.node !== process.version || blob.length !== base + index.dataBytes) return; // truncated / foreign
    entries = new Map();
    for (const [rel, [offset, length, hash]] of Object.entries(index.entries)) {
      entries.set(rel, { data: blob.subarray(base + offset, base + offset + length), stamp: hash });
    }
  } catch (_) {
    entries = null;
    return;
  }
  if (entries === null) return;
  mode = 'use';
  patch();
}

function uninstall() {
  if (originalCompile !== null && mode === 'use') {
    Module.prototype._compile = originalCompile;
    originalCompile = null;
  }
}

// build-cache.js: record every module compiled from now on.
function startBuild() {
  mode = 'build';
  entries = new Map();
  patch();
}

// build-cache.js: after loading and warming up, write the cache file.
function finishBuild() {
  Module.prototype._compile = originalCompile;
  const datas = [];
  const index = { node: process.version, arch: process.arch, execArgv: process.execArgv, entries: {} };
  let offset = 0;
  for (const [rel, { script, stamp: hash }] of entries) {
    const data = script.createCachedData();
    index.entries[rel] = [offset, data.length, hash];
    datas.push(data);
    offset += data.length;
  }
  index.dataBytes = offset;
  const { file, bytes } = writeAtomic(cacheFile(), Buffer.from(JSON.stringify(index), 'utf8'), datas);
  return { file, modules: entries.size, bytes };
}

// --- the module table (runner.js) -------------------------------------------

// What a lazy start may load before user code runs: the runner's own modules
// (lib/cache.js only serves the fallback) and allowlist.json in the table;
// acorn, which only code without a top-level return needs, in a part of its
// own. Whatever else it loads goes through require(), so a file missing here
// only costs time.
function tableFiles() {
  const lib = fs.readdirSync(path.join(ROOT, 'lib'))
    .filter((f) => f.endsWith('.js') && f !== 'cache.js').sort().map((f) => 'lib/' + f);
  return { main: [...lib, 'allowlist.json'], parts: { acorn: ['node_modules/acorn/dist/acorn.js'] } };
}

// build-cache.js: writes runner.js's module table and its parts. Their modules
// are loaded as a lazy start loads them and warmed up like the cache above
// (the code cache then holds the job path's functions too: jobs beyond
// `return 1` need them, and compiling them on use costs more than reading
// them).
function buildTable() {
  const runner = require('../runner');
  const { main: mainFiles, parts } = tableFiles();
  const files = { __proto__: null };
  const stats = { __proto__: null }; // rel -> { size, mtimeMs }
  for (const rel of [...mainFiles, ...Object.values(parts).flat()]) {
    const filename = `${runner.ROOT}/${rel}`;
    const st = fs.statSync(filename); // before reading: a later change makes the entry stale
    const text = fs.readFileSync(filename, 'utf8');
    // (wrapped as require() wraps it; JSON is parsed, not compiled)
    const source = rel.endsWith('.json') ? text : runner.WRAP_HEAD + text + runner.WRAP_TAIL;
    files[filename] = { source, script: null };
    stats[rel] = { size: st.size, mtimeMs: st.mtimeMs };
  }
  const load = runner.tableLoader(files, (filename, entry) => {
    entry.script = new vm.Script(entry.source, { filename });
    return entry.script;
  });
  let main;
  process.argv.push('--lazy-modules'); // as in a lazy start: allowlisted modules not loaded
  try {
    main = load(`${runner.ROOT}/lib/main.js`);
  } finally {
    process.argv.pop();
  }
  main.warmUp(); // (its sample without a return loads acorn)
  const write = (file, rels, extra) => {
    const header = { node: process.version, arch: process.arch, execArgv: process.execArgv, files: [], ...extra };
    const blobs = [];
    for (const rel of rels) {
      const { source, script } = files[`${runner.ROOT}/${rel}`];
      const text = Buffer.from(source, 'utf8');
      const data = script === null ? Buffer.alloc(0) : script.createCachedData();
      header.files.push([rel, stats[rel].size, stats[rel].mtimeMs, text.length, data.length]);
      blobs.push(text, data);
    }
    return writeAtomic(file, Buffer.from(JSON.stringify(header), 'utf8'), blobs);
  };
  let bytes = 0;
  for (const [part, rels] of Object.entries(parts)) {
    bytes += write(runner.cacheFile(`${part}.table`), rels, {}).bytes;
  }
  const table = write(runner.cacheFile('table'), mainFiles, { parts });
  return { file: table.file, bytes: table.bytes + bytes };
}

// [4-byte big-endian length of `header`][header][parts...], written to a
// temporary file first so that a runner never sees half a file.
function writeAtomic(file, header, parts) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(header.length);
  const blob = Buffer.concat([len, header, ...parts]);
  fs.mkdirSync(DIR, { recursive: true });
  const tmp = file + '.' + process.pid + '.tmp';
  fs.writeFileSync(tmp, blob);
  fs.renameSync(tmp, file);
  return { file, bytes: blob.length };
}

module.exports = { install, uninstall, startBuild, finishBuild, buildTable, stats, cacheFile };
