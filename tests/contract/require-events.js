// about: require('events') EventEmitter delivers events synchronously in order
// expect-status: ok
// expect-result: ["a:1", "b:2", "a:3"]
const EventEmitter = require('events');
const em = new EventEmitter();
const seen = [];
em.on('a', (v) => seen.push('a:' + v));
em.on('b', (v) => seen.push('b:' + v));
em.emit('a', 1);
em.emit('b', 2);
em.emit('a', 3);
return seen;
