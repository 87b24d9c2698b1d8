// about: macros that reach the network or the chain are host calls: until provided, calling one is a clear error naming it
// upstream: core/taskengine/macros/exp.go exprEnv (fetch, readContractData, chainlinkPrice, ...)
// profile: avs
// expect-status: ok
// expect-result: ["fetch", "readContractData", "priceChainlink", "chainlinkPrice", "latestRoundDataChainlink", "state.get"]
const calls = [() => fetch("https://example.com"), () => readContractData("0x0", "0x", "m", "[]"), () => priceChainlink("0x0"), () => chainlinkPrice("0x0"), () => latestRoundDataChainlink("0x0"), () => state.get("k")];
return calls.map((c) => { try { c(); return "no error"; } catch (e) { return e.name === "HostCallError" ? e.message.split(" ")[0] : e.message; } });
