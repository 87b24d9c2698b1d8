// about: string arguments are printed raw: multi-line strings stay one entry, non-ASCII is preserved
// expect-status: ok
// expect-logs: [{"level": "log", "message": "line1\nline2"}, {"level": "info", "message": "héllo ✓ 🎉"}, {"level": "log", "message": "tab\there"}]
console.log('line1\nline2');
console.info('héllo ✓ 🎉');
console.log('tab\there');
