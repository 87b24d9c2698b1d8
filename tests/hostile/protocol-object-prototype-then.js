// about: make every object a thenable (Object.prototype.then getter) except the job's own result, so any object the runner later awaits or resolves gets replaced with a forged copy
// expect-status: ok
// expect-result-has: {"real": true, "marker": "genuine"}
// control: skip protocol robustness does not depend on the sandbox
// limits: {"timeout_ms": 5000, "memory_mib": 128}
const mine = new WeakSet();
const result = { real: true, marker: 'genuine' };
mine.add(result);
Object.defineProperty(Object.prototype, 'then', {
  configurable: true, enumerable: false,
  get() {
    if (this === null || mine.has(this) || typeof this !== 'object') return undefined;
    const self = this;
    return function (resolve) {
      let copy;
      try {
        copy = Object.assign({}, self);
        if (copy.result && typeof copy.result === 'object') { copy.result = Object.assign({}, copy.result, { marker: 'forged!' }); mine.add(copy.result); }
        if (copy.marker === 'genuine') copy.marker = 'forged!';
      } catch (_) { copy = self; }
      mine.add(copy);
      if (typeof resolve === 'function') resolve(copy);
    };
  },
});
return result;
