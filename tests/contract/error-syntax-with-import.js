// about: a SyntaxError in code that also has imports reports the line/column within the user's code
// expect-status: error
// expect-error-has: {"name": "SyntaxError", "line": 2, "column": 7}
import _ from 'lodash';
const = 5;
return _;
