// about: AVS example - JSON.stringify(trigger.data) as the last expression gives the exact JSON string
// inputs: {"trigger": {"data": {"value": 10}}}
// expect-status: ok
// expect-result: "{\"value\":10}"
JSON.stringify(trigger.data)
