// about: under node the blacklist does not apply (everything runs sandboxed)
// upstream: core/taskengine/vm_security.go ValidateCodeInjection (the node profile's difference)
// profile: node
// mode: expression
// inputs: {"data": {"processed": true}}
// expect-status: ok
// expect-result: true
data.processed == true
