// about: top-level returns inside try/catch are top-level returns
// expect-status: ok
// expect-result: 1
try {
  return JSON.parse('{"a": 1}').a;
} catch (e) {
  return 'bad';
}
