// about: NaN, Infinity and -Infinity become null, also nested
// expect-status: ok
// expect-result: [null, null, null, {"x": null}, 1]
return [NaN, Infinity, -Infinity, { x: 0 / 0 }, 1];
