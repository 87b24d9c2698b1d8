// about: arguments beyond the format string's specifiers are appended with spaces; a non-string first argument disables specifiers
// expect-status: ok
// expect-logs: [{"level": "log", "message": "a b { c: 1 }"}, {"level": "log", "message": "extra %s args 3"}, {"level": "log", "message": "1 %s x"}]
console.log('%s', 'a', 'b', { c: 1 });
console.log('extra', '%s', 'args', 3);
console.log(1, '%s', 'x');
