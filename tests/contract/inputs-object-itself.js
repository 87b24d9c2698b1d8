// about: the global inputs is the whole inputs object
// inputs: {"a": 1, "b": {"c": [true, null]}, "my key": "s"}
// expect-status: ok
// expect-result: {"a": 1, "b": {"c": [true, null]}, "my key": "s"}
return inputs;
