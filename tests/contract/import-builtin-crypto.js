// about: named import from an allowed built-in module (crypto)
// expect-status: ok
// expect-result: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
import { createHash } from 'crypto';
return createHash('sha256').update('abc').digest('hex');
