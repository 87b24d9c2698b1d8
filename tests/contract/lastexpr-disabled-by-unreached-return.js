// about: a top-level return anywhere (even one that is not reached) switches off last-expression mode, so falling off the end gives null
// inputs: {"flag": false}
// expect-status: ok
// expect-result: null
if (flag) {
  return 'early';
}
'late'
