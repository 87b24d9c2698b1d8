// about: import from an allowed built-in with the node: prefix
// expect-status: ok
// expect-result: ["aGVsbG8=", "/a/c"]
import { Buffer } from 'node:buffer';
import path from 'node:path';
return [Buffer.from('hello').toString('base64'), path.join('/a', 'b', '../c')];
