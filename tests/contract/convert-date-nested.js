// about: Date values inside objects and arrays become ISO strings
// expect-status: ok
// expect-result: {"at": "1970-01-01T00:00:00.000Z", "list": ["2024-02-29T23:59:59.000Z"]}
return { at: new Date(0), list: [new Date(Date.UTC(2024, 1, 29, 23, 59, 59))] };
