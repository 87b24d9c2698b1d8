// about: require('querystring') stringify and parse
// expect-status: ok
// expect-result: ["a=1&b=x&b=y&c=%C3%A9", {"x": "1", "y": ["2", "3"]}]
const qs = require('querystring');
const parsed = qs.parse('x=1&y=2&y=3');
return [qs.stringify({ a: 1, b: ['x', 'y'], c: 'é' }), { ...parsed }];
