// about: non-ASCII strings in inputs arrive intact (length counts UTF-16 code units)
// inputs: {"greeting": "héllo ✓ 🎉"}
// expect-status: ok
// expect-result: {"echo": "héllo ✓ 🎉", "length": 10, "upper": "HÉLLO ✓ 🎉"}
return { echo: greeting, length: greeting.length, upper: greeting.toUpperCase() };
