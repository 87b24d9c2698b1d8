// about: a Map with string keys becomes an object
// expect-status: ok
// expect-result: {"a": 1, "b": {"c": 2}}
return new Map([['a', 1], ['b', { c: 2 }]]);
