// about: a timer still pending when the code's promise settles is dropped; its log never appears
// expect-status: ok
// expect-result: "early"
// expect-logs: []
setTimeout(() => console.log('late'), 50);
return 'early';
