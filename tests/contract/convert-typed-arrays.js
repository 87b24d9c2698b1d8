// about: typed arrays become arrays of numbers
// expect-status: ok
// expect-result: {"u8": [1, 2, 255], "i16": [-2, 300], "f32": [0.5, -1.25], "f64": [3.141592653589793]}
return {
  u8: new Uint8Array([1, 2, 255]),
  i16: new Int16Array([-2, 300]),
  f32: new Float32Array([0.5, -1.25]),
  f64: new Float64Array([Math.PI]),
};
