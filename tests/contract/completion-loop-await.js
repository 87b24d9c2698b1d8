// about: a loop completes with its last iteration's value; top-level await keeps working
// expect-status: ok
// expect-result: 6
let total = 0;
for (const n of [1, 2, 3]) {
  total += await Promise.resolve(n);
}
