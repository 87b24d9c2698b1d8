// about: primitives, special numbers, BigInt, Symbol, Date and empty console.log()
// expect-status: ok
// expect-logs: [{"level": "log", "message": "null undefined true false 0 -1.5"}, {"level": "log", "message": ""}, {"level": "log", "message": "[ 1.5, -0, NaN, Infinity ]"}, {"level": "log", "message": "10n Symbol(s)"}, {"level": "log", "message": "2024-01-02T03:04:05.000Z"}, {"level": "log", "message": "[ undefined, null ]"}]
console.log(null, undefined, true, false, 0, -1.5);
console.log();
console.log([1.5, -0, NaN, Infinity]);
console.log(10n, Symbol('s'));
console.log(new Date('2024-01-02T03:04:05Z'));
console.log([undefined, null]);
