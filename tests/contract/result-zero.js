// about: falsy number 0 is returned as 0, not null
// expect-status: ok
// expect-result: 0
return 0;
