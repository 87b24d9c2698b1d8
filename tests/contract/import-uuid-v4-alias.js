// about: import { v4 as uuidv4 } from 'uuid' gives a random version-4 UUID
// expect-status: ok
// expect-result-type: string
// expect-result-matches: [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}
import { v4 as uuidv4 } from 'uuid';
return uuidv4();
