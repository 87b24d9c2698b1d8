// about: object key order of inputs is preserved as given (visible through JSON.stringify and Object.keys)
// inputs: {"trigger": {"data": {"zeta": 1, "alpha": [1, 2], "mid": {"y": true, "b": null}}}}
// expect-status: ok
// expect-result: "{\"zeta\":1,\"alpha\":[1,2],\"mid\":{\"y\":true,\"b\":null}}"
JSON.stringify(trigger.data)
