// about: require('url') URL parsing
// expect-status: ok
// expect-result: {"host": "example.com:8080", "path": "/a/b", "q": "1", "hash": "#frag", "href": "https://example.com:8080/a/b?q=1&r=x+y#frag"}
const { URL } = require('url');
const u = new URL('https://example.com:8080/a/b?q=1#frag');
u.searchParams.append('r', 'x y');
return { host: u.host, path: u.pathname, q: u.searchParams.get('q'), hash: u.hash, href: u.href };
