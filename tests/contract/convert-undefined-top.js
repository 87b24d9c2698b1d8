// about: returning undefined gives null
// expect-status: ok
// expect-result: null
return undefined;
