// about: sabotage promise plumbing before returning: Promise.prototype.then/catch/finally, Promise.resolve/all and Promise[Symbol.species] rewrite results with marker "genuine" to "forged!"
// expect-status: ok
// expect-result-has: {"real": true, "marker": "genuine"}
// control: skip protocol robustness does not depend on the sandbox
// limits: {"timeout_ms": 5000, "memory_mib": 128}
const forge = (v) => (v && typeof v === 'object' && v.marker === 'genuine') ? Object.assign({}, v, { marker: 'forged!' }) : v;
const origThen = Promise.prototype.then;
Promise.prototype.then = function (onF, onR) {
  return origThen.call(this, typeof onF === 'function' ? (v) => onF(forge(v)) : onF, onR);
};
const origResolve = Promise.resolve;
Promise.resolve = function (v) { return origResolve.call(this, forge(v)); };
const origAll = Promise.all;
Promise.all = function (it) { return origThen.call(origAll.call(this, it), (vs) => vs.map(forge)); };
try {
  class EvilPromise extends Promise {}
  Object.defineProperty(Promise, Symbol.species, { configurable: true, get() { return EvilPromise; } });
} catch (_) {}
try { const origNextTick = process.nextTick; process.nextTick = function (fn, ...a) { return origNextTick.call(process, fn, ...a.map(forge)); }; } catch (_) {}
try { const origQM = globalThis.queueMicrotask; globalThis.queueMicrotask = (fn) => origQM(fn); } catch (_) {}
return { real: true, marker: 'genuine' };
