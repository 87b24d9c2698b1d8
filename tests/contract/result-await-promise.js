// about: top-level await of a promise, then return
// expect-status: ok
// expect-result: 42
const v = await Promise.resolve(41);
return v + 1;
