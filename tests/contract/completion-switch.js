// about: switch completes with the value of the case that ran
// inputs: {"kind": "b"}
// expect-status: ok
// expect-result: 2
switch (kind) {
  case "a": 1; break;
  case "b": 2; break;
  default: 3;
}
