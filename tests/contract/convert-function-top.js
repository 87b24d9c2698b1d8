// about: a function returned at the top level gives null
// expect-status: ok
// expect-result: null
return () => 42;
