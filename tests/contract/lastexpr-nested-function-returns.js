// about: returns inside arrow functions, class methods and object methods do not count as top-level returns
// expect-status: ok
// expect-result: [2, 3, 10, 7]
class Box {
  constructor(v) { this.v = v; }
  get() { return this.v; }
}
const obj = { seven() { return 7; } };
const mapped = [1, 2].map((n) => { return n + 1; });
[...mapped, new Box(10).get(), obj.seven()]
