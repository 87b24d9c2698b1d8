// about: BigInt values inside objects and arrays become decimal strings, negative ones too
// expect-status: ok
// expect-result: {"wei": "1000000000000000000", "list": ["-5", "0"]}
return { wei: 10n ** 18n, list: [-5n, 0n] };
