// about: AVS example - apContext.configVars is reachable as a global
// inputs: {"apContext": {"configVars": {"k": "v"}}}
// expect-status: ok
// expect-result: "v"
return apContext.configVars.k;
