// about: require('lodash')
// expect-status: ok
// expect-result: ["fooBar", "hello-world-again", {"1": [1.2, 1.4], "2": [2.1]}]
const _ = require('lodash');
[_.camelCase('Foo Bar'), _.kebabCase('Hello World Again'), _.groupBy([1.2, 1.4, 2.1], Math.floor)]
