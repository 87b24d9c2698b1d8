// about: crypto.getRandomValues rejects more than 65536 elements with upstream's message
// upstream: core/taskengine/macros/goja_utils.go ConfigureGojaRuntime (crypto polyfill)
// profile: avs
// expect-status: error
// expect-error-has: {"name": "TypeError", "message": "crypto.getRandomValues: array length must be between 0 and 65536"}
crypto.getRandomValues(new Uint8Array(65537))
