// about: returning a promise that rejects gives status error with the rejection's Error
// expect-status: error
// expect-error-has: {"name": "Error", "message": "nope", "line": 2, "column": 23}
const label = 'nope';
return Promise.reject(new Error(label));
