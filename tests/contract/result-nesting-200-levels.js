// about: a result nested deeper than 120 levels (here 200) is a clear ResultError naming the cap, never a crashed run (past 127 levels it used to reach the host's frame parser, whose limit is 128, and end as crashed)
// expect-status: error
// expect-error-has: {"name": "ResultError", "message": "result nesting exceeds 120 levels"}
let v = 1;
for (let i = 0; i < 200; i++) v = i % 2 ? [v] : { v };
v
