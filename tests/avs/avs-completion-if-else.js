// about: a program without return gives its completion value (upstream runs such code as a goja script)
// upstream: core/taskengine/vm_runner_customcode.go (Execute: code without return is run unwrapped by RunString); issue 14's example
// profile: avs
// inputs: {"trigger": {"data": {"value": 10}}}
// expect-status: ok
// expect-result: "high"
if (trigger.data.value > 5) { "high" } else { "low" }
