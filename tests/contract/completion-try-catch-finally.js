// about: try/catch completes with the catch block's value; a finally block's own value does not count
// expect-status: ok
// expect-result: "recovered"
try {
  "trying";
  JSON.parse("{");
} catch (e) {
  "recovered";
} finally {
  "cleanup";
}
