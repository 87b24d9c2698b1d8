// about: an if whose branch is not taken completes with undefined, which replaces an earlier value (as eval gives it)
// expect-status: ok
// expect-result: null
"earlier";
if (false) { "never" }
