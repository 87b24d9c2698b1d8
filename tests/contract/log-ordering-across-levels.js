// about: entries from different levels stay in one list in the order they were made, including from awaited callbacks
// expect-status: ok
// expect-result: "end"
// expect-logs: [{"level": "info", "message": "1 start"}, {"level": "error", "message": "2 problem"}, {"level": "log", "message": "3 micro"}, {"level": "warn", "message": "4 timer"}, {"level": "debug", "message": "5 after await"}, {"level": "log", "message": "6 end"}]
console.info('1 start');
console.error('2 problem');
await Promise.resolve().then(() => console.log('3 micro'));
await new Promise((r) => setTimeout(() => { console.warn('4 timer'); r(); }, 5));
console.debug('5 after await');
console.log('6 end');
return 'end';
