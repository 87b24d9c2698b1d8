// about: an error thrown inside a function called from top level reports the line/column of the throw site inside that function
// expect-status: error
// expect-error-has: {"name": "RangeError", "message": "too big: 5", "line": 3, "column": 11}
function check(v) {
  if (v > 1) {
    throw new RangeError('too big: ' + v);
  }
  return v;
}
return check(5);
