// about: top-level return of an integer
// expect-status: ok
// expect-result: 42
return 42;
