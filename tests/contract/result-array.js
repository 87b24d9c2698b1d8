// about: top-level return of a heterogeneous array
// expect-status: ok
// expect-result: [1, "two", true, null, {"five": 5}, [6]]
return [1, 'two', true, null, { five: 5 }, [6]];
