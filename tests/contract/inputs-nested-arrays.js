// about: nested arrays in inputs keep their shape
// inputs: {"matrix": [[1, 2], [3, 4]], "rows": [{"id": "a", "tags": ["x", "y"]}, {"id": "b", "tags": []}]}
// expect-status: ok
// expect-result: {"cell": 3, "total": 10, "tagCounts": [2, 0], "isArray": true}
return {
  cell: matrix[1][0],
  total: matrix.flat().reduce((a, b) => a + b, 0),
  tagCounts: rows.map((r) => r.tags.length),
  isArray: Array.isArray(rows[1].tags),
};
