// about: last expression spanning several lines (method chain)
// expect-status: ok
// expect-result: [4, 6]
const items = [1, 2, 3];
items
  .map((n) => n * 2)
  .filter((n) => n > 2)
