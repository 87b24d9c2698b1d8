// about: look for, then leave, markers in process-wide state a reused/warm process would carry over: globalThis, process.env, require.cache, the lodash module object, Object.prototype, /dev/shm, /var/tmp, os.tmpdir()
// expect-status: ok
// expect-result-has: {"seen_before": false}
// control: skip would leave markers in the host's /dev/shm, /var/tmp and /tmp
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
const fs = mod('fs'); const os = mod('os') || { tmpdir: () => '/tmp' }; const path = mod('path');

const KEY = '__nodecell_tenant_marker__';
const seen = {};
seen.globalThis = KEY in globalThis;
seen.object_prototype = Object.prototype.hasOwnProperty.call(Object.prototype, KEY);
seen.process_env = Object.prototype.hasOwnProperty.call(process.env, 'NODECELL_TENANT_MARKER');
let lodash = null;
try { lodash = require('lodash'); seen.lodash = !!(lodash && lodash[KEY]); } catch (e) { seen.lodash = false; }
try { seen.require_cache = !!(require.cache && Object.keys(require.cache).some((k) => k.includes(KEY))); } catch (_) { seen.require_cache = false; }
const files = [...new Set(['/dev/shm', '/var/tmp', os.tmpdir()])].map((d) => path.join(d, KEY));
for (const f of files) { try { seen[f] = fs.existsSync(f); } catch (e) { seen[f] = false; } }

const wrote = {};
globalThis[KEY] = true;
Object.defineProperty(Object.prototype, KEY, { value: true, configurable: true, enumerable: false, writable: true });
process.env.NODECELL_TENANT_MARKER = '1';
if (lodash && typeof lodash === 'function') { try { lodash[KEY] = true; wrote.lodash = true; } catch (_) {} }
try { if (require.cache) { require.cache['/' + KEY + '.js'] = { id: KEY, exports: {}, loaded: true }; wrote.require_cache = true; } } catch (_) {}
for (const f of files) { try { fs.writeFileSync(f, 'x'); wrote[f] = true; } catch (e) { wrote[f] = errc(e); } }
return { seen_before: Object.values(seen).some(Boolean), seen, wrote };
