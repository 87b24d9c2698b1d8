// about: output well under max_output_bytes is complete and not truncated
// limits: {"max_output_bytes": 10000}
// expect-status: ok
// expect-result: 3
// expect-truncated: false
// expect-logs: [{"level": "log", "message": "line 0"}, {"level": "log", "message": "line 1"}, {"level": "log", "message": "line 2"}]
let i = 0;
for (; i < 3; i++) console.log('line ' + i);
i
