// about: top-level return of a non-integer number keeps full precision
// expect-status: ok
// expect-result: 0.30000000000000004
return 0.1 + 0.2;
