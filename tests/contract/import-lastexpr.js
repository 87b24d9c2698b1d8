// about: imports combined with last-expression mode (no return)
// expect-status: ok
// expect-result: [1, 2, 3]
import _ from 'lodash';
const xs = [3, 1, 2, 3, 1];
_.sortBy(_.uniq(xs))
