// about: throw of a string gives status error with that string as the message
// expect-status: error
// expect-error-has: {"message": "text"}
const reason = 'text';
throw reason;
