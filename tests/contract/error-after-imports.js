// about: import declarations do not shift the reported line/column of later errors
// expect-status: error
// expect-error-has: {"name": "RangeError", "message": "after import 3", "line": 3, "column": 7}
import _ from 'lodash';
const xs = _.range(3);
throw new RangeError('after import ' + xs.length);
