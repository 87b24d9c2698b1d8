// about: import _ from 'lodash' (default import)
// expect-status: ok
// expect-result: 6
import _ from 'lodash';
return _.sum([1, 2, 3]);
