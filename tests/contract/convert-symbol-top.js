// about: a symbol returned at the top level gives null
// expect-status: ok
// expect-result: null
return Symbol('alone');
