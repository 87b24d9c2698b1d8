// about: toBigInt parses decimal or 0x hex (256 bits at most, else null); bigCmp, bigGt and bigLt compare
// upstream: core/taskengine/macros/exp.go ToBigInt, BigCmp, BigGt, BigLt (go-ethereum math.ParseBig256)
// profile: avs
// expect-status: ok
// expect-result: ["255", "0", null, null, -1, 0, 1, true, false]
const big = "0x1" + "0".repeat(64);
[toBigInt("0xff"), toBigInt(""), toBigInt("12abc"), toBigInt(big), bigCmp(toBigInt("5"), toBigInt("7")), bigCmp(5n, 5n), bigCmp(toBigInt("0x10"), 15n), bigGt(toBigInt("9"), 2n), bigLt(toBigInt("9"), 2n)]
