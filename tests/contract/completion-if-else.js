// about: without a return, the result is the program's completion value: an if/else gives its branch's value (AVS's most common custom-code shape)
// inputs: {"trigger": {"data": {"value": 10}}}
// expect-status: ok
// expect-result: "high"
if (trigger.data.value > 5) { "high" } else { "low" }
