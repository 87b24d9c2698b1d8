// about: throw of a number gives a well-formed error whose message contains the number
// expect-status: error
// expect-error-message-includes: 42
throw 42;
