// about: objects and arrays are rendered like util.inspect (quotes, nesting depth 2, Map, Set, class names)
// expect-status: ok
// expect-logs: [{"level": "log", "message": "{ a: 1, b: 'two', c: [ 3 ], d: { e: null } }"}, {"level": "log", "message": "[ 'a', 'b' ]"}, {"level": "log", "message": "[ 1, [ 2, [ 3, [Array] ] ] ]"}, {"level": "log", "message": "{ s: \"it's\" }"}, {"level": "log", "message": "Map(2) { 'k' => 1, 'j' => { x: 2 } }"}, {"level": "log", "message": "Set(2) { 'a', 1 }"}, {"level": "log", "message": "P { x: 1, y: [ 2 ] }"}, {"level": "log", "message": "{ fn: [Function: fn], arrow: [Function: arrow] }"}, {"level": "log", "message": "{ 'my-key': 1, valid_id: 2 }"}]
console.log({ a: 1, b: 'two', c: [3], d: { e: null } });
console.log(['a', 'b']);
console.log([1, [2, [3, [4, [5]]]]]);
console.log({ s: "it's" });
console.log(new Map([['k', 1], ['j', { x: 2 }]]));
console.log(new Set(['a', 1]));
class P {
  constructor() { this.x = 1; this.y = [2]; }
}
console.log(new P());
console.log({ fn() {}, arrow: () => 1 });
console.log({ 'my-key': 1, valid_id: 2 });
