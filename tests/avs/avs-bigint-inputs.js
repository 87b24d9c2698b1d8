// about: BigInt arithmetic over workflow variables, returned as strings
// upstream: core/taskengine/vm_runner_customcode_test.go TestCustomCodeBigIntSupport
// profile: avs
// inputs: {"settings": {"token_amount": {"amount": "1000000000000000"}, "recipients": ["a", "b"]}, "balance1": {"data": [{"balance": "90864223405041968"}]}}
// expect-status: ok
// expect-result: {"balance": "90864223405041968", "totalNeeded": "2000000000000000"}
const totalNeeded = BigInt(settings.token_amount.amount) * BigInt(settings.recipients.length);
const balance = BigInt(balance1.data[0].balance);
return { balance: balance.toString(), totalNeeded: totalNeeded.toString() }
