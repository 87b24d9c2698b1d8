// about: extra setTimeout arguments are passed to the callback
// expect-status: ok
// expect-result: ["a", 2]
const args = await new Promise((resolve) => setTimeout((x, y) => resolve([x, y]), 5, 'a', 2));
return args;
