// about: parseUnit scales a non-negative decimal by 10^decimals (ethers' parseUnits), as a BigInt
// upstream: core/taskengine/macros/parseunit_test.go TestParseUnit
// profile: avs
// expect-status: ok
// expect-result: ["262199000000", "100000000", "5"]
[parseUnit("2621.99", 8), parseUnit("1", 8), parseUnit("5.", 0)]
