// about: require('path') uses POSIX semantics
// expect-status: ok
// expect-result: ["/a/c", ".gz", "file.txt", "/x/y"]
const path = require('path');
return [path.join('/a', 'b', '../c'), path.extname('x.tar.gz'), path.basename('/tmp/dir/file.txt'), path.dirname('/x/y/z')];
