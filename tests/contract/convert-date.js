// about: a Date result becomes its ISO string
// expect-status: ok
// expect-result: "2024-01-02T03:04:05.678Z"
return new Date('2024-01-02T03:04:05.678Z');
