// about: all conversion rules applied recursively in one nested structure
// expect-status: ok
// expect-result: {"big": "9007199254740993", "when": "2020-05-06T07:08:09.000Z", "map": {"inner": {"set": [1, "2", null], "bytes": [7, 8]}, "fn": null}, "list": [null, null, null, null, "1", [0, 255]], "plain": {"ok": true, "s": "x"}}
const inner = new Map([
  ['set', new Set([1, '2', undefined])],
  ['bytes', new Uint8Array([7, 8]).buffer],
]);
return {
  big: 9007199254740993n,
  when: new Date('2020-05-06T07:08:09Z'),
  map: new Map([['inner', inner], ['fn', () => 1]]),
  list: [undefined, Symbol('s'), NaN, -Infinity, 1n, new Uint8Array([0, 255])],
  plain: { ok: true, s: 'x' },
};
