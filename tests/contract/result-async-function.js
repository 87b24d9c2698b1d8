// about: user-defined async functions awaited at top level
// expect-status: ok
// expect-result: {"sum": 6, "labels": ["item-1", "item-2", "item-3"]}
async function load(n) {
  await new Promise((r) => setTimeout(r, 5));
  return { n, label: 'item-' + n };
}
const rows = [];
for (const n of [1, 2, 3]) {
  rows.push(await load(n));
}
return { sum: rows.reduce((a, r) => a + r.n, 0), labels: rows.map((r) => r.label) };
