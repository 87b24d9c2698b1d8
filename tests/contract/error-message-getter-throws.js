// about: an Error whose message getter throws still produces a well-formed error outcome
// expect-status: error
const e = new Error('original');
Object.defineProperty(e, 'message', {
  get() {
    throw new Error('message getter exploded');
  },
});
throw e;
