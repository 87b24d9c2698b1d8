// about: input keys may shadow any global, also those the runner itself uses (Object, JSON, Symbol, Reflect, Array, Promise, Error, String, Map, Set): the code sees the inputs, the runner still works, and results and errors are still serialized
// inputs: {"Object": 1, "JSON": 2, "Symbol": 3, "Reflect": 4, "Array": 5, "Promise": 6, "Error": 7, "String": 8, "Map": 9, "Set": 10, "WeakMap": 11, "Function": 12, "Math": 13, "Number": 14, "Date": 15, "Proxy": 16, "Buffer": 17, "console": 18, "process": 19, "require": 20}
// expect-status: ok
// expect-result: {"seen": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17], "nested": [1, {"x": [true, null, "s"]}], "viaInputs": [18, 19, 20], "runnerWins": ["function", "function"]}
({
  seen: [Object, JSON, Symbol, Reflect, Array, Promise, Error, String, Map, Set, WeakMap, Function, Math, Number, Date, Proxy, Buffer],
  nested: [1, { x: [true, null, 's'] }],
  // console and require stay the runner's (README: "What the code sees").
  viaInputs: [inputs.console, inputs.process, inputs.require],
  runnerWins: [typeof console.log, typeof require],
})
