// about: falsy empty string is returned as "", not null
// expect-status: ok
// expect-result: ""
return '';
