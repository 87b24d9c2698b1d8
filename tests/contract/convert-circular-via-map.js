// about: a cycle through a Map value is circular
// expect-status: error
// expect-error-message-includes: circular
const m = new Map();
m.set('me', m);
return m;
