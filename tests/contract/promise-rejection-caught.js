// about: an awaited rejection caught with try/catch does not fail the run
// expect-status: ok
// expect-result: "caught: no"
try {
  await Promise.reject(new Error('no'));
  return 'not reached';
} catch (e) {
  return 'caught: ' + e.message;
}
