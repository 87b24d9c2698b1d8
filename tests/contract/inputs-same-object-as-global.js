// about: the global for a key and inputs[key] hold the same value
// inputs: {"trigger": {"data": {"value": 10}}}
// expect-status: ok
// expect-result: [true, ["trigger"]]
[JSON.stringify(inputs.trigger) === JSON.stringify(trigger), Object.keys(inputs)]
