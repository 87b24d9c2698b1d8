// about: a cleared timeout never fires
// expect-status: ok
// expect-result: "not fired"
// expect-logs: [{"level": "log", "message": "kept timer"}]
let fired = false;
const id = setTimeout(() => { fired = true; console.log('cleared timer'); }, 5);
clearTimeout(id);
await new Promise((r) => setTimeout(() => { console.log('kept timer'); r(); }, 20));
return fired ? 'fired' : 'not fired';
