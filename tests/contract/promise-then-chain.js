// about: a returned promise chain is awaited for the result
// expect-status: ok
// expect-result: {"n": 4}
return Promise.resolve(1)
  .then((n) => n + 1)
  .then((n) => new Promise((r) => setTimeout(() => r(n * 2), 5)))
  .then((n) => ({ n }));
