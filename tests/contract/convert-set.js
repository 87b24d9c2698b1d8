// about: a Set becomes an array in insertion order (duplicates already removed)
// expect-status: ok
// expect-result: [1, "two", {"three": 3}]
return new Set([1, 'two', 1, { three: 3 }]);
