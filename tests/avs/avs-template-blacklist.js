// about: a template path containing a blacklisted substring gives "undefined" under avs
// upstream: core/taskengine/vm.go resolveVariablePath (ValidateCodeInjection)
// profile: avs
// mode: template
// inputs: {"data": {"processed_at": "today", "day": "mon"}}
// expect-status: ok
// expect-result: "undefined mon\n"
{{ data.processed_at }} {{ data.day }}
