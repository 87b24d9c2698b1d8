// about: return used as a property name is not a top-level return
// expect-status: ok
// expect-result: 5
const o = { return: 5 };
o.return
