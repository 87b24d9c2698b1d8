// about: each console method maps to its own level, in call order
// expect-status: ok
// expect-logs: [{"level": "log", "message": "l"}, {"level": "info", "message": "i"}, {"level": "warn", "message": "w"}, {"level": "error", "message": "e"}, {"level": "debug", "message": "d"}]
console.log('l');
console.info('i');
console.warn('w');
console.error('e');
console.debug('d');
