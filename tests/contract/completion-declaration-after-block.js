// about: declarations and empty blocks after a value leave it as the completion value
// expect-status: ok
// expect-result: {"ok": true}
{ ({ ok: true }) }
const later = 1;
{}
function helper() { return later; }
