// about: top-level return of true
// expect-status: ok
// expect-result: true
return 1 < 2;
