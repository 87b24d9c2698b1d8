// about: a NaN result gives null
// expect-status: ok
// expect-result: null
return Number('not a number');
