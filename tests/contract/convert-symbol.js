// about: symbols become null at the top level and inside containers
// expect-status: ok
// expect-result: [null, {"s": null}]
const s = Symbol('tag');
return [s, { s: Symbol.iterator }];
