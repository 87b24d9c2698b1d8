// about: a result containing a reference cycle gives status error whose message says circular
// expect-status: error
// expect-error-message-includes: circular
const a = { name: 'a' };
a.self = a;
return a;
