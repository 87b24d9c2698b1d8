// about: numbers, booleans, null and strings in inputs keep their JSON types
// inputs: {"n": 1.5, "i": -3, "big": 9007199254740991, "t": true, "f": false, "z": null, "s": "str"}
// expect-status: ok
// expect-result: {"types": ["number", "number", "number", "boolean", "boolean", "object", "string"], "values": [1.5, -3, 9007199254740991, true, false, null, "str"], "zIsNull": true}
const values = [n, i, big, t, f, z, s];
return { types: values.map((v) => typeof v), values, zIsNull: z === null };
