// about: bigCmp, bigGt and bigLt take BigInts only; a number or a string is a TypeError the code can catch
// upstream: core/taskengine/macros/exp.go BigCmp/BigGt/BigLt (*big.Int parameters: goja converts only BigInt)
// profile: avs
// expect-status: ok
// expect-result: ["TypeError", "TypeError", true]
const names = [() => bigGt(9, 2), () => bigLt("1", 2n)].map((f) => { try { f(); return "no error"; } catch (e) { return e.name; } });
return [...names, bigGt(9n, 2n)];
