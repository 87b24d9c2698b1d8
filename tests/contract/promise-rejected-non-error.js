// about: a promise rejected with a plain string still gives a well-formed error carrying the text
// expect-status: error
// expect-error-message-includes: rejected with text
await new Promise((_, reject) => setTimeout(() => reject('rejected with text'), 5));
return 'not reached';
