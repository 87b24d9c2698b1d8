// about: util.format specifiers %s %d %i %f, plus a missing argument leaving the specifier as-is
// expect-status: ok
// expect-logs: [{"level": "log", "message": "str|42|null|undefined"}, {"level": "log", "message": "12345678901234567890n"}, {"level": "log", "message": "42|7|1.5"}, {"level": "log", "message": "42|-3"}, {"level": "log", "message": "125|2"}, {"level": "log", "message": "Ann is %d years"}]
console.log('%s|%s|%s|%s', 'str', 42, null, undefined);
console.log('%s', 12345678901234567890n);
console.log('%d|%d|%d', 42, '7', 1.5);
console.log('%i|%i', 42.9, '-3.7');
console.log('%f|%f', '1.25e2', 2);
console.log('%s is %d years', 'Ann');
