// about: tamper with the runner: create a file in runner_dir_host and /runner, and open every existing runner file (incl. node_modules) for writing (opened only, never written)
// expect-status: ok
// expect-result-has: {"wrote": false}
// control-result-has: {"wrote": true}
// limits: {"timeout_ms": 10000, "memory_mib": 128}
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
const fs = mod('fs'); const path = mod('path'); const crypto = mod('crypto');

// A created probe file is removed again at once (the result still says it happened); existing files are opened with
// O_WRONLY without O_TRUNC and closed unwritten, so the control leaves the runner intact.
const out = { wrote: false, created_in: [], writable_files: [], files_tried: 0, errors: {} };
const roots = [I.runner_dir_host, '/runner'].filter((r) => typeof r === 'string' && path.isAbsolute(r));
try { roots.push(path.dirname(require.resolve('lodash'))); } catch (_) {}
for (const root of roots) {
  const probe = path.join(root, '.nodecell-hostile-' + crypto.randomBytes(6).toString('hex'));
  try { fs.writeFileSync(probe, 'x', { flag: 'wx' }); out.wrote = true; out.created_in.push(root); try { fs.unlinkSync(probe); } catch (_) {} }
  catch (e) { out.errors['create:' + root] = errc(e); }
  // Walk up to depth 4 / 300 files.
  const stack = [[root, 0]];
  while (stack.length && out.files_tried < 300) {
    const [d, depth] = stack.pop();
    let ents;
    try { ents = fs.readdirSync(d, { withFileTypes: true }); } catch (e) { if (d === root) out.errors['list:' + root] = errc(e); continue; }
    for (const ent of ents) {
      const f = path.join(d, ent.name);
      if (ent.isDirectory()) { if (depth < 4) stack.push([f, depth + 1]); continue; }
      if (!ent.isFile()) continue;
      out.files_tried++;
      try { const fd = fs.openSync(f, fs.constants.O_WRONLY); fs.closeSync(fd); out.wrote = true; if (out.writable_files.length < 10) out.writable_files.push(f); }
      catch (e) { out.errors.open = errc(e); }
      if (out.files_tried >= 300) break;
    }
  }
}
return out;
