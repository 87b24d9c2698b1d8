// about: an object whose name and message getters both throw still produces a well-formed error outcome
// expect-status: error
const weird = {
  get name() { throw new Error('no name'); },
  get message() { throw new Error('no message'); },
};
throw weird;
