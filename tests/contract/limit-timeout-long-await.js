// about: awaiting a timer longer than timeout_ms ends with status timeout
// limits: {"timeout_ms": 500}
// expect-status: timeout
await new Promise((resolve) => setTimeout(resolve, 10000));
return 'not reached';
