// about: top-level return of a nested plain object
// expect-status: ok
// expect-result: {"name": "avs", "count": 3, "nested": {"ok": true, "tags": ["a", "b"]}}
const tags = ['a', 'b'];
return { name: 'avs', count: tags.length + 1, nested: { ok: true, tags } };
