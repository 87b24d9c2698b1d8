// about: an awaited promise rejected later (from a timer) with an Error gives status error with its name, message and position
// expect-status: error
// expect-error-has: {"name": "Error", "message": "later", "line": 2, "column": 10}
await new Promise((_, reject) => setTimeout(() => {
  reject(new Error('later'));
}, 10));
return 'not reached';
