// about: throw a Proxy around an Error whose every trap throws (get, has, ownKeys, getPrototypeOf -> instanceof, util.inspect, JSON all explode)
// expect-status: error
// control: skip protocol robustness does not depend on the sandbox
// limits: {"timeout_ms": 5000, "memory_mib": 128}
const traps = new Proxy({}, { get(_, trap) { return () => { throw new Error('proxy trap ' + String(trap)); }; } });
throw new Proxy(new Error('behind a proxy'), traps);
