'use strict';
// Builds the V8 code caches used by runner.js at startup (.v8cache/): the
// per-module cache of an eager start and the module table of a lazy one.
// Run with exactly the node flags the host uses, e.g.
//   node --no-addons build-cache.js
// (npm's postinstall does that). Safe to skip: without a cache, or with a
// stale one, the runner compiles its modules normally (slower start).

const cache = require('./lib/cache');

cache.startBuild();
const main = require('./lib/main');

main.warmUp();
const r = cache.finishBuild();
process.stdout.write(`nodecell runner: V8 code cache for ${r.modules} modules, ${r.bytes} bytes -> ${r.file}\n`);
const t = cache.buildTable();
process.stdout.write(`nodecell runner: module table for a lazy start (with its parts), ${t.bytes} bytes -> ${t.file}\n`);
