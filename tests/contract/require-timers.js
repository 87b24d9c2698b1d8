// about: require('timers') setTimeout works like the global one
// expect-status: ok
// expect-result: "timer fired"
const timers = require('timers');
const v = await new Promise((resolve) => timers.setTimeout(resolve, 5, 'timer fired'));
return v;
