// about: throw undefined still gives a well-formed error object
// expect-status: error
throw undefined;
