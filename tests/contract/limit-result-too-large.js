// about: a result larger than max_result_bytes is not returned as ok
// limits: {"max_result_bytes": 1000}
// expect-status: output_limit|error
return 'x'.repeat(5000);
