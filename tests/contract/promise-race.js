// about: Promise.race settles with the fastest promise; the slow timer is still pending at the end and is dropped
// expect-status: ok
// expect-result: "fast"
// expect-logs: []
const slow = new Promise((resolve) => setTimeout(() => { console.log('slow finished'); resolve('slow'); }, 200));
const fast = new Promise((resolve) => setTimeout(() => resolve('fast'), 5));
return Promise.race([slow, fast]);
