// about: undefined inside an object becomes null (the key is kept, unlike JSON.stringify)
// expect-status: ok
// expect-result: {"a": null, "b": 1}
return { a: undefined, b: 1 };
