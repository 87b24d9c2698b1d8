// about: hostile error machinery before returning: Error.prepareStackTrace throws, Error.captureStackTrace is a no-op, Error.prototype.toString/message getters throw, stackTraceLimit = Infinity
// expect-status: ok
// expect-result-has: {"real": true, "marker": "genuine"}
// control: skip protocol robustness does not depend on the sandbox
// limits: {"timeout_ms": 5000, "memory_mib": 128}
Error.prepareStackTrace = () => { throw new Error('prepareStackTrace trap'); };
Error.stackTraceLimit = Infinity;
try { Error.captureStackTrace = () => {}; } catch (_) {}
try { Error.prototype.toString = function () { throw new Error('toString trap'); }; } catch (_) {}
try { Object.defineProperty(Error.prototype, 'message', { configurable: true, get() { throw new Error('message trap'); } }); } catch (_) {}
return { real: true, marker: 'genuine' };
