// about: throw an Error whose name/message/stack/constructor/toString/cause are throwing getters, with a throwing Symbol.toPrimitive and a throwing Error.prepareStackTrace
// expect-status: error
// control: skip protocol robustness does not depend on the sandbox
// limits: {"timeout_ms": 5000, "memory_mib": 128}
Error.prepareStackTrace = () => { throw new Error('prepareStackTrace trap'); };
const e = new Error('original');
for (const k of ['name', 'message', 'stack', 'constructor', 'toString', 'cause', 'code', 'errors', 'toJSON']) {
  Object.defineProperty(e, k, { configurable: false, enumerable: true, get() { throw new Error('getter trap ' + k); } });
}
Object.defineProperty(e, Symbol.toPrimitive, { get() { throw new Error('toPrimitive trap'); } });
Object.setPrototypeOf(e, new Proxy(Error.prototype, { get(t, k, r) { if (k === 'then') return undefined; throw new Error('proto trap ' + String(k)); } }));
throw e;
