// about: undefined inside an array becomes null
// expect-status: ok
// expect-result: [null, 1, null]
return [undefined, 1, undefined];
