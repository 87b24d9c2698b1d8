'use strict';
// `isolation: "batch"`: one job's items run one after another in this process, each in a
// fresh V8 context (its own globals and built-ins), with the item bound as `value` and
// its `index` (under the avs profile also `iterVal` and `iterKey`), the job's inputs, the
// user console (whose lines become the item's `logs`), `require`, timers and the usual
// web globals. What items share: this process (its memory limit, its stdout/stderr), the
// module instances `require` returns, and timers an item leaves behind.
//
// Each item is held to its own time limit: its synchronous code and every promise job
// run inside the context's evaluation (microtaskMode "afterEvaluate"), which V8 can
// interrupt; what it awaits from outside (a timer) is raced against the limit. The result
// is an array, one entry per item:
//   {"status":"ok","result":<JSON>,"logs":[...],"wall_ms":n}
//   {"status":"error"|"timeout"|"output_limit","error":{...},"logs":[...],"wall_ms":n}

const vm = require('vm');

// Globals of this realm that an item's fresh context gets as well.
const SHARED_GLOBALS = [
  'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate',
  'clearImmediate', 'queueMicrotask', 'structuredClone', 'Buffer', 'URL', 'URLSearchParams',
  'TextEncoder', 'TextDecoder', 'atob', 'btoa', 'AbortController', 'AbortSignal', 'Event',
  'EventTarget', 'performance', 'crypto',
];

/**
 * @param deps {
 *   source, filename, lineOffset: the transformed code's wrapper,
 *   items: array, itemTimeoutMs: number, inputs: object, profile: string,
 *   userRequire, importValues, console, installProfile(global) or null,
 *   branchRule(value, error) -> {value, reason} or null (mode expression under avs), reason(e),
 *   serialize(value) -> JSON text (throws), describeError(err) -> info,
 *   collectLogs(array|null, budget): routes console lines into the array,
 *   quote(string) -> JSON string, now() -> ms }
 * @returns Promise<string> the result array as JSON text
 */
async function runItems(deps) {
  const script = new vm.Script(deps.source, { filename: deps.filename, lineOffset: deps.lineOffset });
  const call = new vm.Script(
    '__nodecell_item_main__().then((v) => __nodecell_item_done__(1, v), (e) => __nodecell_item_done__(2, e))',
    { filename: 'nodecell-item' });
  // (Scripts are made per job: a vm.Script cannot be in the runner's startup snapshot.)
  const drain = new vm.Script('undefined', { filename: 'nodecell-item' });
  const parts = [];
  for (let index = 0; index < deps.items.length; index++) {
    parts.push(await runItem(deps, script, call, drain, index));
  }
  return '[' + parts.join(',') + ']';
}

async function runItem(deps, script, call, drain, index) {
  const t0 = deps.now();
  const logs = [];
  const overflow = deps.collectLogs(logs);
  const value = deps.items[index];
  const sandbox = {};
  for (const name of SHARED_GLOBALS) {
    if (name in globalThis) sandbox[name] = globalThis[name];
  }
  const inputs = deps.inputs;
  for (const name of Object.keys(inputs)) sandbox[name] = inputs[name];
  sandbox.inputs = inputs;
  sandbox.value = value;
  sandbox.index = index;
  if (deps.profile === 'avs') {
    sandbox.iterVal = value;
    sandbox.iterKey = index;
  }
  sandbox.console = deps.console;
  const context = vm.createContext(sandbox, { microtaskMode: 'afterEvaluate' });
  if (deps.installProfile !== null) deps.installProfile(vm.runInContext('globalThis', context));
  let last;
  const outer = script.runInContext(context);
  context.__nodecell_item_main__ = outer(deps.userRequire, deps.importValues, (v) => { last = v; },
    () => deps.settledOnly(last), deps.settledOnly);
  let state = 0; // 1 resolved, 2 rejected
  let settled;
  context.__nodecell_item_done__ = (s, v) => { state = s; settled = v; };

  let status = 'ok';
  let text = null;
  let info = null;
  let timer = null;
  try {
    // The context's promise jobs run only while something is evaluated in it: after the
    // call, it is entered again (empty) until the item settles, waiting for timers between.
    const deadline = t0 + deps.itemTimeoutMs;
    call.runInContext(context, { timeout: deps.itemTimeoutMs });
    while (state === 0) {
      await new Promise((r) => { timer = setTimeout(r, 2); });
      const left = deadline - deps.now();
      if (left <= 0) throw TIMED_OUT;
      drain.runInContext(context, { timeout: left });
    }
    if (state === 2) throw settled;
    if (deps.branchRule !== null) {
      const b = deps.branchRule(settled, null);
      if (b.reason !== null) logs.push({ level: 'info', message: b.reason });
      settled = b.value;
    }
    text = deps.serialize(settled);
  } catch (e) {
    if (deps.branchRule !== null && e !== TIMED_OUT && !isTimeoutTermination(e)) {
      // AVS's branch rule: a condition that throws is false.
      logs.push({ level: 'info', message: 'false (evaluation error)\n  Error: ' + deps.reason(e) });
      text = 'false';
    } else if (e === TIMED_OUT || isTimeoutTermination(e)) {
      status = 'timeout';
      info = { name: 'TimeoutError', message: `the item exceeded its time limit of ${deps.itemTimeoutMs} ms`, stack: null, line: null, column: null };
    } else {
      status = 'error';
      info = deps.describeError(e);
    }
  } finally {
    if (timer !== null) clearTimeout(timer);
    deps.collectLogs(null);
  }
  if (overflow.exceeded) {
    status = 'output_limit';
    text = null;
    info = { name: 'OutputLimitError', message: 'captured output exceeded its limit', stack: null, line: null, column: null };
  }
  let out = '{"status":"' + status + '"';
  if (status === 'ok') out += ',"result":' + text;
  else out += ',"error":' + errorJson(deps.quote, info);
  out += ',"logs":[' + logs.map((l) => '{"level":"' + l.level + '","message":' + deps.quote(l.message) + '}').join(',') + ']';
  out += ',"wall_ms":' + (deps.now() - t0) + '}';
  return out;
}

const TIMED_OUT = { timedOut: true };

// vm's `timeout` ends the evaluation with this error.
function isTimeoutTermination(e) {
  return e !== null && typeof e === 'object' && e.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT';
}

function errorJson(quote, info) {
  const field = (v) => (typeof v === 'string' ? quote(v) : (typeof v === 'number' ? '' + v : 'null'));
  return '{"name":' + quote(String(info.name)) + ',"message":' + quote(String(info.message)) +
    ',"stack":' + field(info.stack) + ',"line":' + field(info.line) + ',"column":' + field(info.column) + '}';
}

module.exports = { runItems };
