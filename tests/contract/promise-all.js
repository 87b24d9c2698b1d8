// about: Promise.all over plain values, resolved promises and timer-based promises keeps order
// expect-status: ok
// expect-result: [1, 2, 3]
const slow = new Promise((resolve) => setTimeout(() => resolve(3), 10));
return await Promise.all([1, Promise.resolve(2), slow]);
