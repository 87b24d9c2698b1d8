// about: plant /tmp/package.json ("type":"module") and a fake /tmp/node_modules/{lodash,dayjs,uuid}, then see whether the runner's require picks them up
// expect-status: ok
// expect-result-has: {"lodash_hijacked": false}
// control: skip would plant package.json/node_modules in the host's /tmp (the case removes what it created, but not atomically)
// limits: {"timeout_ms": 5000, "memory_mib": 128}
// Built-ins the way an attacker gets them: getBuiltinModule/require first; if the runner removed those back doors,
// dig them out of objects the runtime still exposes (an fs stream keeps the whole fs module under its kFs symbol -
// process.stdin is an fs.ReadStream when fd 0 is /dev/null - and stdio sockets hand out the net.Socket class).
const mod = (n) => {
  try { const m = process.getBuiltinModule && process.getBuiltinModule(n); if (m) return m; } catch (_) {}
  try { const m = require(n); if (m) return m; } catch (_) {}
  try {
    if (n === 'fs') for (const k of ['stdin', 'stdout', 'stderr']) { const s = process[k]; const y = s && Object.getOwnPropertySymbols(s).find((x) => x.description === 'kFs'); if (y && s[y] && typeof s[y].readFileSync === 'function') return s[y]; }
    if (n === 'net') for (const k of ['stdout', 'stderr', 'stdin']) { const C = process[k] && process[k].constructor; if (typeof C === 'function' && C.name === 'Socket' && typeof C.prototype.connect === 'function') return { Socket: C, connect: (...a) => new C().connect(...a), createConnection: (...a) => new C().connect(...a) }; }
  } catch (_) {}
  return null;
};
const errc = (e) => (e && typeof e === 'object' && (e.code || e.name)) ? String(e.code || e.name) : String(e);
const fs = mod('fs'); const path = mod('path');

const out = { wrote_package_json: false, wrote_node_modules: false, lodash_hijacked: false, errors: {} };
const created = [];
try {
  fs.writeFileSync('/tmp/package.json', JSON.stringify({ name: 'evil', type: 'module', imports: { '#evil': './evil.js' } }), { flag: 'wx' });
  created.push('/tmp/package.json'); out.wrote_package_json = true;
} catch (e) { out.errors.package_json = errc(e); }
try {
  fs.mkdirSync('/tmp/node_modules'); created.push('/tmp/node_modules');
  for (const pkg of ['lodash', 'dayjs', 'uuid']) {
    fs.mkdirSync(`/tmp/node_modules/${pkg}`);
    fs.writeFileSync(`/tmp/node_modules/${pkg}/package.json`, JSON.stringify({ name: pkg, version: '99.0.0', main: 'index.js', type: 'commonjs' }));
    fs.writeFileSync(`/tmp/node_modules/${pkg}/index.js`, 'module.exports = "HIJACKED";\n');
  }
  out.wrote_node_modules = true;
} catch (e) { out.errors.node_modules = errc(e); }
try { out.lodash_hijacked = require('lodash') === 'HIJACKED'; } catch (e) { out.errors.require_lodash = errc(e); }
try { out.dayjs_hijacked = require('dayjs') === 'HIJACKED'; } catch (e) { out.errors.require_dayjs = errc(e); }
try {
  // Loading the planted copy through an explicit /tmp require is the attacker loading its own file: harmless, reported only.
  out.create_require_resolves_planted = mod('module').createRequire('/tmp/x.js')('lodash') === 'HIJACKED';
} catch (e) { out.errors.create_require = errc(e); }
finally {
  for (const c of created.reverse()) { try { fs.rmSync(c, { recursive: true, force: true }); } catch (_) {} }
}
return out;
