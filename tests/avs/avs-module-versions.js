// about: under avs, require gives the versions AVS pins: lodash 4.17.21, uuid 8.3.2 (no v7), dayjs 1.11.13
// upstream: core/taskengine/modules/builtins.go RegisterBuiltinLibraries; modules/libs
// profile: avs
// expect-status: ok
// expect-result: ["4.17.21", "undefined", "function", "2024-01-02"]
const _ = require("lodash");
const uuid = require("uuid");
const dayjs = require("dayjs");
return [_.VERSION, typeof uuid.v7, typeof uuid.v4, dayjs("2024-01-02T03:04:05Z").format("YYYY-MM-DD")];
