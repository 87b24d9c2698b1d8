// about: require('uuid'); v5 is deterministic, v4 validates as version 4
// expect-status: ok
// expect-result: ["fdda765f-fc57-5604-a269-52a7df8164ec", true, 4]
const uuid = require('uuid');
const id = uuid.v4();
return [uuid.v5('hello.example.com', uuid.v5.DNS), uuid.validate(id), uuid.version(id)];
