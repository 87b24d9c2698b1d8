// about: with no inputs given, inputs is an empty object
// expect-status: ok
// expect-result: ["object", 0]
[typeof inputs, Object.keys(inputs).length]
