// about: util.format specifiers %j %o %O and %% (%% only collapses when there are arguments)
// expect-status: ok
// expect-logs: [{"level": "log", "message": "{\"a\":[1,\"x\",null]}"}, {"level": "log", "message": "{ a: 1, b: 's' }"}, {"level": "log", "message": "{ a: { b: { c: [Object] } } }"}, {"level": "log", "message": "50% done"}, {"level": "log", "message": "100%%"}, {"level": "log", "message": "[ 1, 2, [length]: 2 ]"}]
console.log('%j', { a: [1, 'x', null] });
console.log('%o', { a: 1, b: 's' });
console.log('%O', { a: { b: { c: { d: 1 } } } });
console.log('%d%% done', 50);
console.log('100%%');
console.log('%o', [1, 2]);
