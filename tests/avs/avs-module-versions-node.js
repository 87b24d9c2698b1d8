// about: under node, require gives the current versions (lodash 4.18.1, uuid 11 with v7)
// upstream: core/taskengine/modules/builtins.go (the node profile's difference)
// profile: node
// expect-status: ok
// expect-result: ["4.18.1", "function"]
const _ = require("lodash");
return [_.VERSION, typeof require("uuid").v7];
