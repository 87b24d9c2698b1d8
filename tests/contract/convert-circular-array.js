// about: an array containing itself (indirectly) is circular too
// expect-status: error
// expect-error-message-includes: circular
const arr = [1];
const holder = { arr };
arr.push(holder);
return arr;
