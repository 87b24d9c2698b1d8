'use strict';
// Optional V8 code cache for everything the runner loads at startup (its own
// lib/ files, acorn, lodash, dayjs, uuid). Built ahead of time by
// `node build-cache.js` (npm's postinstall), stored read-only next to the
// runner, used when present and accepted by V8; otherwise modules compile as
// usual. It only changes how fast startup is, never what runs.
//
// V8 rejects a cache made with other V8 flags, so the cache file name is keyed
// by node version, arch, execArgv and NODE_OPTIONS: build it with the same
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

function fnv1a(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

function cacheFile() {
  const flags = process.execArgv.join('\0') + '\u0001' + (process.env.NODE_OPTIONS || '');
  return path.join(DIR, `${process.version}-${process.arch}-${fnv1a(flags)}.bin`);
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
function install() {
  if (mode !== null) return;
  let blob;
  try {
    blob = fs.readFileSync(cacheFile());
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
  const header = Buffer.from(JSON.stringify(index), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(header.length);
  fs.mkdirSync(DIR, { recursive: true });
  const file = cacheFile();
  const tmp = file + '.' + process.pid + '.tmp';
  fs.writeFileSync(tmp, Buffer.concat([len, header, ...datas]));
  fs.renameSync(tmp, file);
  return { file, modules: entries.size, bytes: 4 + header.length + offset };
}

module.exports = { install, uninstall, startBuild, finishBuild, stats, cacheFile };
