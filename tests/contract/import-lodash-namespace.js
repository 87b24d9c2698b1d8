// about: import * as L from 'lodash' (namespace import)
// expect-status: ok
// expect-result: ["function", [[1, 2], [3, 4], [5]], 6]
import * as L from 'lodash';
return [typeof L.map, L.chunk([1, 2, 3, 4, 5], 2), L.sum([1, 2, 3])];
