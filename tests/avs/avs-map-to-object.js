// about: a Map in the result becomes an object keyed by its keys' text
// upstream: core/taskengine/vm_runner_customcode_test.go TestCustomCodeMapSupport
// profile: avs
// expect-status: ok
// expect-result: {"token": "ETH", "amount": 1000}
const m = new Map();
m.set("token", "ETH");
m.set("amount", 1000);
return m;
