// about: a BigInt result becomes its decimal string
// expect-status: ok
// expect-result: "12345678901234567890"
return 12345678901234567890n;
