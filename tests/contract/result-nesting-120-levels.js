// about: a result nested 120 levels deep (objects and arrays alternating) reaches the caller whole: it is within the runner's cap, and the host parses it (its frame parser's nesting limit is 128)
// expect-status: ok
// expect-result-type: array
let v = 1;
for (let i = 0; i < 120; i++) v = i % 2 ? [v] : { v };
v
