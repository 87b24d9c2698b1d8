// about: the last expression may itself be an await expression
// expect-status: ok
// expect-result: "resolved"
const p = new Promise((resolve) => setTimeout(() => resolve('resolved'), 10));
await p
