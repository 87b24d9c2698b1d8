// about: throwing a plain object with a message property gives an error carrying that message
// expect-status: error
// expect-error-message-includes: plain object thrown
throw { message: 'plain object thrown', code: 7 };
