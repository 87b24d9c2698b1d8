// about: return an object with OWN "__proto__" and "constructor.prototype" keys (made with JSON.parse) hoping a host-side merge pollutes prototypes
// expect-status: ok
// expect-result-has: {"ok": true}
// control: skip protocol robustness does not depend on the sandbox
// limits: {"timeout_ms": 5000, "memory_mib": 128}
return JSON.parse('{"__proto__": {"isAdmin": true, "status": "ok"}, "constructor": {"prototype": {"isAdmin": true}}, "prototype": {"isAdmin": true}, "ok": true, "nested": {"__proto__": {"polluted": true}}}');
