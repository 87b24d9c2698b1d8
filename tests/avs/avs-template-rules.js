// about: templates substitute values (objects as Go JSON with sorted keys and case aliases, Dates in Go's format, missing variables as undefined)
// upstream: core/taskengine/vm.go preprocessTextWithVariableMapping; vm_template_compat.go expandCaseAliases
// profile: avs
// mode: template
// inputs: {"trigger": {"data": {"value": 10, "chain_id": 1}}, "name": "a<b"}
// expect-status: ok
// expect-result: "v=10 o={\"chainId\":1,\"chain_id\":1,\"value\":10} c=1 n=a<b m=undefined e= f=4.5 g=1.2345678e+06 d=1970-01-01 00:00:00.000 +0000 UTC h=undefined\n"
v={{ trigger.data.value }} o={{ trigger.data }} c={{ trigger.data.chainId }} n={{name}} m={{ missing.x }} e={{ }} f={{ 1.5 * 3 }} g={{ 1234567.8 }} d={{ new Date(0) }} h={{ some-var }}
