// about: code that is only comments gives null
// expect-status: ok
// expect-result: null
/* nothing to do here */
// still nothing
