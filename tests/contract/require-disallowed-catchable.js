// about: a disallowed require throws at the call site, so user code can catch it and continue
// expect-status: ok
// expect-result-type: string
// expect-result-matches: (?s)caught: .*child_process.*
let status;
try {
  require('child_process');
  status = 'loaded';
} catch (e) {
  status = 'caught: ' + e.message;
}
status
