// about: a custom Error subclass keeps its name and message
// expect-status: error
// expect-error-has: {"name": "ValidationError", "message": "amount must be positive", "line": 9, "column": 9}
class ValidationError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ValidationError';
  }
}
const amount = -1;
if (amount <= 0)
  throw new ValidationError('amount must be positive');
