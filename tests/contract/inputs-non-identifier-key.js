// about: a key that is not a valid identifier is reachable only through inputs["..."], not as a global
// inputs: {"my-key": "dash", "ok": 1}
// expect-status: ok
// expect-result: ["dash", "undefined", 1]
[inputs['my-key'], typeof globalThis['my-key'], ok]
