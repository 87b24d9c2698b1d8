// about: an ArrayBuffer becomes the array of its bytes
// expect-status: ok
// expect-result: [1, 2, 3, 250]
return new Uint8Array([1, 2, 3, 250]).buffer;
