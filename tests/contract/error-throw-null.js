// about: throw null still gives a well-formed error object
// expect-status: error
throw null;
