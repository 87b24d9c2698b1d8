// about: falsy boolean false is returned as false, not null
// expect-status: ok
// expect-result: false
return 1 > 2;
