// about: empty code (no statements at all) gives null
// expect-status: ok
// expect-result: null
