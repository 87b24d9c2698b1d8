// about: explicit return null gives null
// expect-status: ok
// expect-result: null
return null;
