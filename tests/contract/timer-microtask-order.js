// about: synchronous code, then microtasks, then a 0 ms timeout, in that order
// expect-status: ok
// expect-result: ["sync", "micro 1", "micro 2", "timeout"]
const order = [];
setTimeout(() => order.push('timeout'), 0);
Promise.resolve().then(() => order.push('micro 1'));
queueMicrotask(() => order.push('micro 2'));
order.push('sync');
await new Promise((r) => setTimeout(r, 10));
return order;
