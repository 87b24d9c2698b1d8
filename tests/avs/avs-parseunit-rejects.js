// about: parseUnit rejects over-precision, negatives, malformed fractions and decimals out of range, with upstream's messages
// upstream: core/taskengine/macros/parseunit_test.go TestParseUnit
// profile: avs
// expect-status: ok
// expect-result: ["Parse error: fractional part \"999\" exceeds 2 decimals in \"1.999\"", "Parse error: \"-0.5\" is not a non-negative decimal number", "Parse error: \"-1.5\" is not a non-negative decimal number", "Parse error: \"1.+5\" is not a non-negative decimal number", "Parse error: decimals 1000 out of range (max 78)"]
const bad = [["1.999", 2], ["-0.5", 8], ["-1.5", 8], ["1.+5", 8], ["1", 1000]];
return bad.map(([v, d]) => { try { parseUnit(v, d); return "no error"; } catch (e) { return e.message; } });
