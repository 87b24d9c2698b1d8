// about: import { map, pick } from 'lodash' (named imports)
// expect-status: ok
// expect-result: {"m": [2, 4, 6], "p": {"a": 1, "c": 3}}
import { map, pick } from 'lodash';
return { m: map([1, 2, 3], (n) => n * 2), p: pick({ a: 1, b: 2, c: 3 }, ['a', 'c']) };
