'use strict';
// The runner proper (runner.js is only the bootstrap). Loading this module
// captures built-ins and pre-loads every allowlisted module; start() then
// signals readiness, waits for the job and runs it.

// Capture every built-in used after user code starts. Must be first.
const I = require('./intrinsics');
const protocol = require('./protocol');
const { quote, writeFrame } = protocol;
const { serialize, isInternalError, tooLarge } = require('./serialize');
const { transform, transformExpression, transformFilter, mapColumn, lineStarts, loadAcorn, FILENAME } = require('./transform');
const { runItems } = require('./batch');
const avs = require('./avs');
const host = require('./host');
const template = require('./template');
const vm = require('vm');
const path = require('path');
const { Console } = require('console');

const processRef = process;
const reallyExit = process.reallyExit.bind(process);
const processOn = process.on.bind(process);
const VmScript = vm.Script;
const RUNNER_DIR = path.join(__dirname, '..');
const DEFAULT_MAX_BYTES = 1024 * 1024;
// Error message/stack strings are cut to this many UTF-16 units (or to
// max_result_bytes, whichever is larger).
const MIN_ERROR_TEXT = 64 * 1024;

// --- allowlisted modules, all loaded now so a job pays nothing -------------

const ALLOWLIST = require('../allowlist.json');
const modules = new I.Map(); // accepted specifier -> exports
// Where each npm package is loaded from: the file its package.json selects
// for require() in node (exports "node"/"require", else "main"), as an
// absolute path so that no package-exports resolution machinery has to be
// loaded at startup (versions are pinned exactly; test/install.test.js checks
// these are the files require() would pick). lodash is the exception: its
// minified build is the same library and version (same API, same _.VERSION)
// and starts several milliseconds faster than the 540 kB lodash.js.
const NODE_MODULES = path.join(__dirname, '..', 'node_modules');
const LOAD_FROM = {
  lodash: path.join(NODE_MODULES, 'lodash', 'lodash.min.js'),
  dayjs: path.join(NODE_MODULES, 'dayjs', 'dayjs.min.js'),
  uuid: path.join(NODE_MODULES, 'uuid', 'dist', 'cjs', 'index.js'),
};
// Eager (the default, for warm sandboxes): everything is loaded before "ready", so a job
// pays nothing. Lazy (`--lazy-modules`, for a sandbox started for one job that is
// waiting on it): a module is loaded on first use, so starting costs only what the job uses.
const LAZY = process.argv.includes('--lazy-modules'); // before any user code: plain calls are fine
const NOT_LOADED = { __proto__: null };
// The allowlist's npm packages are exactly those of LOAD_FROM; the rest are built-ins.
// (Not module.isBuiltin: `module` is not one of the built-ins that Node supports in a
// startup snapshot.)
const isBuiltin = (name) => !I.ObjectPrototypeHasOwnProperty(LOAD_FROM, name);
// The parser for code without a top-level return (see transform.js); a lazy
// start loads it only for such code.
if (!LAZY) loadAcorn();
// Under the avs profile, the versions EigenLayer-AVS pins (package.json's npm aliases
// lodash-avs, dayjs-avs, uuid-avs): loaded at start like the others (so they are in the
// startup snapshot, whose sandboxes may not see the runner's files), or on first use when
// lazy.
const AVS_LOAD_FROM = {
  lodash: path.join(NODE_MODULES, 'lodash-avs', 'lodash.min.js'),
  dayjs: path.join(NODE_MODULES, 'dayjs-avs', 'dayjs.min.js'),
  uuid: path.join(NODE_MODULES, 'uuid-avs', 'dist', 'index.js'),
};
let avsModules = false; // set for a job under the avs profile
const avsLoaded = new I.Map();

for (const name of ALLOWLIST) {
  const exports = LAZY ? NOT_LOADED : require(LOAD_FROM[name] || name);
  I.MapPrototypeSet(modules, name, exports);
  if (isBuiltin(name)) I.MapPrototypeSet(modules, 'node:' + name, exports);
}

if (!LAZY) {
  for (const name of I.ObjectKeys(AVS_LOAD_FROM)) I.MapPrototypeSet(avsLoaded, name, require(AVS_LOAD_FROM[name]));
}

// The exports of an allowed module, loading it now if it was deferred.
function loadAllowed(name) {
  if (avsModules && I.ObjectPrototypeHasOwnProperty(AVS_LOAD_FROM, name)) {
    let exports = I.MapPrototypeGet(avsLoaded, name);
    if (exports === undefined) {
      exports = require(AVS_LOAD_FROM[name]);
      I.MapPrototypeSet(avsLoaded, name, exports);
    }
    return exports;
  }
  let exports = I.MapPrototypeGet(modules, name);
  if (exports === NOT_LOADED) {
    const bare = I.StringPrototypeIndexOf(name, 'node:') === 0 ? I.StringPrototypeSlice(name, 5) : name;
    exports = require(LOAD_FROM[bare] || bare);
    I.MapPrototypeSet(modules, bare, exports);
    if (isBuiltin(bare)) I.MapPrototypeSet(modules, 'node:' + bare, exports);
  }
  return exports;
}
const ALLOWED_TEXT = ALLOWLIST.join(', ');

function notAllowedMessage(name) {
  return `Module ${quote(name)} is not allowed (allowed: ${ALLOWED_TEXT})`;
}

function userRequire(name) {
  if (typeof name === 'string' && I.MapPrototypeHas(modules, name)) {
    return loadAllowed(name);
  }
  let shown;
  try { shown = typeof name === 'string' ? name : I.String(name); } catch (_) { shown = '<unprintable>'; }
  const err = new I.Error(notAllowedMessage(shown));
  I.ErrorCaptureStackTrace(err, userRequire);
  throw err;
}

// --- state of the run ------------------------------------------------------

let finished = false; // a result frame has been (or is being) written
let job = null;
let insertions = null; // line -> column insertions of the transform
let maxResultBytes = DEFAULT_MAX_BYTES;
let maxOutputBytes = DEFAULT_MAX_BYTES;

function exitNow(code) {
  reallyExit(code);
}

function send(json) {
  try {
    writeFrame(json);
  } catch (_) {
    exitNow(protocol.EXIT_CHANNEL);
  }
}

// --- safe helpers for values produced by user code -------------------------

function safeGet(obj, key) {
  try {
    return { ok: true, value: obj[key] };
  } catch (e) {
    return { ok: false, error: e };
  }
}

// String(value) that never throws (user toString / Symbol.toPrimitive can).
function safeString(v) {
  switch (typeof v) {
    case 'string': return v;
    case 'symbol': return I.SymbolPrototypeToString(v);
    case 'undefined': return 'undefined';
    case 'number': case 'boolean': case 'bigint': return '' + v;
    default:
      if (v === null) return 'null';
      try {
        const s = I.String(v);
        return typeof s === 'string' ? s : '[object]';
      } catch (_) {
        return '[object (String() threw)]';
      }
  }
}

function clip(s, limit) {
  return s.length > limit ? I.StringPrototypeSlice(s, 0, limit) : s;
}

function isErrorLike(v) {
  if ((typeof v !== 'object' && typeof v !== 'function') || v === null) return false;
  try {
    if (I.isNativeError(v)) return true;
    let p = v;
    for (let i = 0; i < 100; i++) {
      p = I.ObjectGetPrototypeOf(p);
      if (p === null) return false;
      if (p === I.ErrorPrototype) return true;
    }
  } catch (_) { /* Proxy trap threw: not an error */ }
  return false;
}

function errorHeader(name, message) {
  if (name === '') return message;
  if (message === '') return name;
  return name + ': ' + message;
}

const USER_LOCATION = /^(\s*at (?:.*\()?user\.js:)(\d+):(\d+)(\)?)$/;
const LINE_SPLIT = /\n/g;

// Property descriptors passed to defineProperty after user code has run must
// not inherit anything: user code may have put get/set/value on
// Object.prototype, which defineProperty would pick up.
function nullProtoDescriptor(d) {
  if (d === undefined) return undefined;
  return I.ObjectPrototypeHasOwnProperty(d, 'value')
    ? { __proto__: null, value: d.value, writable: d.writable, enumerable: d.enumerable, configurable: d.configurable }
    : { __proto__: null, get: d.get, set: d.set, enumerable: d.enumerable, configurable: d.configurable };
}

function isRunnerFile(file) {
  return typeof file === 'string' &&
    (file === RUNNER_DIR + '/runner.js' || I.StringPrototypeIndexOf(file, RUNNER_DIR + '/lib/') === 0);
}


function userColumn(line, column1) {
  return mapColumn(insertions, line, column1 - 1) + 1;
}

// Read `err.stack` with a private Error.prepareStackTrace installed, so the
// frames come from V8's CallSites (exact, unaffected by user formatting).
// Falls back to parsing the string when the stack had already been formatted.
function extractStack(err, header) {
  // Set by the hook when it formats `err` (no arrays: user code may have put
  // setters on Array.prototype).
  let hooked = false;
  let firstLine = null;
  let firstColumn = null;
  function hook(error, callsites) {
    let text = '';
    let line0 = null;
    let column0 = null;
    try {
      const n = callsites.length;
      for (let i = 0; i < n; i++) {
        const cs = callsites[i];
        let file; let line; let col; let str;
        try {
          file = I.CallSite.getFileName(cs);
          line = I.CallSite.getLineNumber(cs);
          col = I.CallSite.getColumnNumber(cs);
          str = I.CallSite.toString(cs);
        } catch (_) { continue; }
        // The runner's frames and whatever called them are not the user's.
        if (isRunnerFile(file)) break;
        if (file === FILENAME && typeof line === 'number' && line >= 1 && typeof col === 'number') {
          const ucol = userColumn(line, col);
          if (ucol !== col) {
            const old = `${FILENAME}:${line}:${col}`;
            const at = I.StringPrototypeLastIndexOf(str, old);
            if (at >= 0) {
              str = I.StringPrototypeSlice(str, 0, at) + `${FILENAME}:${line}:${ucol}` +
                I.StringPrototypeSlice(str, at + old.length);
            }
          }
          if (line0 === null) { line0 = line; column0 = ucol; }
        }
        text += '\n    at ' + str;
      }
    } catch (_) { /* keep what we have */ }
    if (error === err) { hooked = true; firstLine = line0; firstColumn = column0; }
    return header + text;
  }

  // Node's stack formatter calls globalThis.Error.prepareStackTrace if that is
  // a function (else the original Error's). So the hook is offered through a
  // stand-in globalThis.Error first, and on the original Error as a fallback
  // (user code may have frozen one of them).
  const ctorDesc = nullProtoDescriptor(I.ObjectGetOwnPropertyDescriptor(I.globalThis, 'Error'));
  const hookDesc = nullProtoDescriptor(I.ObjectGetOwnPropertyDescriptor(I.Error, 'prepareStackTrace'));
  let stack;
  try {
    try {
      I.ObjectDefineProperty(I.globalThis, 'Error', {
        __proto__: null,
        value: { __proto__: null, prepareStackTrace: hook },
        writable: true,
        configurable: true,
        enumerable: false,
      });
    } catch (_) { /* non-configurable */ }
    try {
      I.ObjectDefineProperty(I.Error, 'prepareStackTrace', {
        __proto__: null, value: hook, writable: true, configurable: true, enumerable: false,
      });
    } catch (_) { /* non-configurable */ }
    const r = safeGet(err, 'stack');
    stack = r.ok ? r.value : undefined;
  } finally {
    try {
      if (hookDesc) I.ObjectDefineProperty(I.Error, 'prepareStackTrace', hookDesc);
      else delete I.Error.prepareStackTrace;
    } catch (_) { /* ignore */ }
    try {
      if (ctorDesc) I.ObjectDefineProperty(I.globalThis, 'Error', ctorDesc);
      else delete I.globalThis.Error;
    } catch (_) { /* ignore */ }
  }

  if (typeof stack !== 'string') return { stack: null, line: null, column: null };
  if (hooked) return { stack, line: firstLine, column: firstColumn };
  return parseStackString(stack, header);
}

// Fallback for an already-formatted stack string: fix columns on user.js
// frame lines, drop the runner's own frames, take the first user.js frame.
function parseStackString(stack, header) {
  let body = stack;
  let out = '';
  if (header !== '' && I.StringPrototypeIndexOf(stack, header) === 0) {
    out = header;
    body = I.StringPrototypeSlice(stack, header.length);
  }
  let line = null;
  let column = null;
  let start = 0;
  let first = true;
  for (;;) {
    LINE_SPLIT.lastIndex = start;
    const m = I.RegExpPrototypeExec(LINE_SPLIT, body);
    const end = m === null ? body.length : m.index;
    let text = I.StringPrototypeSlice(body, start, end);
    const sep = first ? '' : '\n';
    first = false;
    const loc = I.RegExpPrototypeExec(USER_LOCATION, text);
    if (loc !== null) {
      const l = +loc[2];
      const c = +loc[3];
      if (l >= 1) {
        const uc = userColumn(l, c);
        text = loc[1] + l + ':' + uc + loc[4];
        if (line === null) { line = l; column = uc; }
      }
    } else if (I.StringPrototypeIndexOf(text, '    at ') === 0 &&
               I.StringPrototypeIndexOf(text, RUNNER_DIR + '/') >= 0 &&
               I.StringPrototypeIndexOf(text, RUNNER_DIR + '/node_modules/') < 0) {
      break; // the runner's frames and whatever called them
    }
    out += sep + text;
    if (m === null) break;
    start = end + 1;
  }
  return { stack: out, line, column };
}

// Anything thrown -> { name, message, stack, line, column }.
function describeError(err) {
  if (isInternalError(err)) {
    return { name: err.name, message: err.message, stack: null, line: null, column: null };
  }
  if (!isErrorLike(err)) {
    // A plain object with a string message (`throw {message: 'm'}`) reads like an error.
    if ((typeof err === 'object' && err !== null) || typeof err === 'function') {
      const m = safeGet(err, 'message');
      if (m.ok && typeof m.value === 'string') {
        const n = safeGet(err, 'name');
        const name = n.ok && typeof n.value === 'string' ? n.value : 'Error';
        return { name, message: m.value, stack: null, line: null, column: null };
      }
    }
    return { name: 'Error', message: safeString(err), stack: null, line: null, column: null };
  }
  const n = safeGet(err, 'name');
  const name = n.ok && typeof n.value === 'string' ? n.value : 'Error';
  const m = safeGet(err, 'message');
  let message;
  if (!m.ok) message = '[message getter threw: ' + reason(m.error) + ']';
  else if (m.value === undefined) message = '';
  else message = safeString(m.value);
  let s;
  try {
    s = extractStack(err, errorHeader(name, message));
  } catch (_) {
    s = { stack: null, line: null, column: null };
  }
  return { name, message, stack: s.stack, line: s.line, column: s.column };
}

// Short text for "why did this fail", never throws.
function reason(e) {
  try {
    if (isErrorLike(e)) {
      const m = safeGet(e, 'message');
      const n = safeGet(e, 'name');
      const name = n.ok && typeof n.value === 'string' ? n.value : 'Error';
      const msg = m.ok ? safeString(m.value) : '';
      return errorHeader(name, msg);
    }
    return safeString(e);
  } catch (_) {
    return 'unknown error';
  }
}

// --- outcome frames --------------------------------------------------------

// The job's nonce, echoed in the result so that the host can tell the runner's result
// from frames user code writes to fd 4 itself.
function nonce() {
  return job !== null && typeof job.nonce === 'string' ? job.nonce : '';
}

function jsonOrNull(v) {
  if (v === null || v === undefined) return 'null';
  return typeof v === 'number' ? '' + v : quote(v);
}

function sendErrorInfo(info) {
  if (finished) return;
  finished = true;
  const limit = maxResultBytes > MIN_ERROR_TEXT ? maxResultBytes : MIN_ERROR_TEXT;
  const name = clip(typeof info.name === 'string' ? info.name : 'Error', limit);
  const message = clip(typeof info.message === 'string' ? info.message : '', limit);
  const stack = typeof info.stack === 'string' ? clip(info.stack, limit) : null;
  const line = typeof info.line === 'number' && info.line >= 1 ? info.line : null;
  const column = line !== null && typeof info.column === 'number' && info.column >= 1 ? info.column : null;
  send('{"type":"result","status":"error","nonce":' + quote(nonce()) + ',"error":{"name":' + quote(name) +
    ',"message":' + quote(message) + ',"stack":' + jsonOrNull(stack) +
    ',"line":' + jsonOrNull(line) + ',"column":' + jsonOrNull(column) + '}}');
}

function finishWithError(err) {
  if (finished) return;
  let info;
  try {
    info = describeError(err);
  } catch (_) {
    info = { name: 'Error', message: 'the code failed and its error could not be described' };
  }
  sendErrorInfo(info);
  exitNow(0);
}

// Under avs, Dates in a result as AVS's Go side writes them.
let resultDates = null;

function finishWithValue(value) {
  if (finished) return;
  let json;
  try {
    json = serialize(value, maxResultBytes, resultDates);
    if (I.BufferByteLength(json, 'utf8') > maxResultBytes) throw tooLarge(maxResultBytes);
  } catch (e) {
    finishWithError(e);
    return;
  }
  if (finished) return; // a getter called process.exit() meanwhile
  finished = true;
  send('{"type":"result","status":"ok","nonce":' + quote(nonce()) + ',"result":' + json + '}');
  exitNow(0);
}

// A result already in JSON text (a batch's array of item results).
function finishWithJson(json) {
  if (finished) return;
  finished = true;
  send('{"type":"result","status":"ok","nonce":' + quote(nonce()) + ',"result":' + json + '}');
  exitNow(0);
}

function finishWithExit(code) {
  sendErrorInfo({
    name: 'ExitError',
    message: `process.exit(${safeString(code)}) was called before the code finished`,
  });
  exitNow(0);
}

// --- console ---------------------------------------------------------------

let logLevel = null; // level forced by the console method being called

let silent = false; // warm-up only

// Under isolation "batch", the current item's console lines (see batch.js), held to the
// output budget of one item.
let itemLogs = null;
let itemBudget = 0;
let itemOverflow = null;

function collectLogs(array) {
  itemLogs = array;
  if (array === null) return null;
  itemBudget = maxOutputBytes;
  itemOverflow = { exceeded: false };
  return itemOverflow;
}

function emitLog(level, text) {
  if (finished || silent) return;
  const limit = maxOutputBytes + 1;
  const message = text.length > limit ? I.StringPrototypeSlice(text, 0, limit) : text;
  if (itemLogs !== null) {
    const n = I.BufferByteLength(message, 'utf8');
    if (n > itemBudget) {
      itemOverflow.exceeded = true;
      itemBudget = 0;
      return;
    }
    itemBudget -= n;
    I.ArrayPrototypePush(itemLogs, { level, message });
    return;
  }
  send('{"type":"log","level":"' + level + '","message":' + quote(message) + '}');
}

function sinkFor(defaultLevel) {
  return {
    write(chunk) {
      let s = typeof chunk === 'string' ? chunk : safeString(chunk);
      if (s.length > 0 && I.StringPrototypeCharCodeAt(s, s.length - 1) === 10) {
        s = I.StringPrototypeSlice(s, 0, s.length - 1);
      }
      emitLog(logLevel !== null ? logLevel : defaultLevel, s);
      return true;
    },
  };
}

function makeUserConsole() {
  const inner = new Console({
    stdout: sinkFor('log'),
    stderr: sinkFor('warn'),
    ignoreErrors: false,
    colorMode: false,
  });
  const methods = {
    log: 'log', info: 'info', debug: 'debug', warn: 'warn', error: 'error',
    dir: 'log', dirxml: 'log', table: 'log', assert: 'error',
    count: null, countReset: null, time: null, timeEnd: null, timeLog: null,
    group: null, groupCollapsed: null, groupEnd: null,
  };
  const userConsole = {};
  for (const name of Object.keys(methods)) {
    const level = methods[name];
    const impl = inner[name];
    const fn = {
      [name](...args) {
        const saved = logLevel;
        logLevel = level;
        try {
          I.ReflectApply(impl, inner, args);
        } catch (e) {
          logLevel = saved;
          emitLog(level || 'error', '[unformattable log message: ' + reason(e) + ']');
        } finally {
          logLevel = saved;
        }
      },
    }[name];
    Object.defineProperty(userConsole, name, {
      value: fn, writable: true, configurable: true, enumerable: true,
    });
  }
  // console.trace: like Node's ("Trace: <format(args)>" + stack), but with the
  // runner's frames cut and user columns corrected.
  function trace(...args) {
    let text;
    try {
      text = 'Trace: ' + I.ReflectApply(I.utilFormat, undefined, args);
    } catch (e) {
      emitLog('debug', '[unformattable log message: ' + reason(e) + ']');
      return;
    }
    const holder = {};
    try {
      I.ErrorCaptureStackTrace(holder, trace);
      const s = extractStack(holder, text);
      if (typeof s.stack === 'string') text = s.stack;
    } catch (_) { /* keep the message alone */ }
    emitLog('debug', text);
  }
  Object.defineProperty(userConsole, 'trace', {
    value: trace, writable: true, configurable: true, enumerable: true,
  });
  for (const name of ['clear', 'profile', 'profileEnd', 'timeStamp']) {
    Object.defineProperty(userConsole, name, {
      value: function () {}, writable: true, configurable: true, enumerable: true,
    });
  }
  Object.defineProperty(userConsole, 'Console', {
    value: Console, writable: true, configurable: true, enumerable: false,
  });
  return userConsole;
}

// --- inputs as globals -----------------------------------------------------

const RESERVED = new Set((
  'break case catch class const continue debugger default delete do else enum export ' +
  'extends false finally for function if import in instanceof new null return super ' +
  'switch this throw true try typeof var void while with yield let static implements ' +
  'interface package private protected public await'
).split(' '));

// IdentifierName as ECMAScript defines it (ID_Start, $ or _, then ID_Continue,
// $, ZWNJ or ZWJ), by V8's own Unicode data; the ASCII test first because the
// Unicode one costs a regexp compilation.
const ASCII_IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const NON_ASCII = /[^\x00-\x7f]/;
let unicodeIdentifier = null;

function isIdentifierName(key) {
  if (RESERVED.has(key)) return false;
  if (ASCII_IDENTIFIER.test(key)) return true;
  if (!NON_ASCII.test(key)) return false;
  if (unicodeIdentifier === null) unicodeIdentifier = /^[\p{ID_Start}$_][\p{ID_Continue}$\u200C\u200D]*$/u;
  return unicodeIdentifier.test(key);
}

// Inputs may shadow any global the runner itself uses (`Object`, `JSON`, ...): from the
// first key on, only the captured intrinsics are used.
function installInputs(inputs) {
  const keys = I.ObjectKeys(inputs);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (key === 'inputs' || key === 'globalThis' || !isIdentifierName(key)) continue;
    const d = I.ObjectGetOwnPropertyDescriptor(globalThis, key);
    if (d && !d.configurable) continue;
    I.ObjectDefineProperty(globalThis, key, {
      __proto__: null, value: inputs[key], writable: true, configurable: true, enumerable: true,
    });
  }
  I.ObjectDefineProperty(globalThis, 'inputs', {
    __proto__: null, value: inputs, writable: true, configurable: true, enumerable: true,
  });
}

// Node writes to pipes asynchronously when the fd is non-blocking, and the runner exits as
// soon as its result is sent: stdout and stderr are made blocking, so that everything the
// code wrote reaches the host. Node creates these streams lazily (for a pipe that costs a
// few milliseconds), so this happens on first access, through Node's own getter.
function makeStdioBlocking() {
  for (const name of ['stdout', 'stderr']) {
    const d = I.ObjectGetOwnPropertyDescriptor(processRef, name);
    if (d === undefined || typeof d.get !== 'function') continue;
    const nodeGetter = d.get;
    I.ObjectDefineProperty(processRef, name, {
      __proto__: null,
      configurable: true,
      enumerable: d.enumerable,
      get() {
        const stream = I.ReflectApply(nodeGetter, processRef, []);
        try {
          const handle = stream._handle;
          if (handle && typeof handle.setBlocking === 'function') handle.setBlocking(true);
        } catch (_) { /* not a pipe or tty: writes are synchronous already */ }
        I.ObjectDefineProperty(processRef, name, {
          __proto__: null, value: stream, writable: true, configurable: true, enumerable: d.enumerable,
        });
        return stream;
      },
    });
  }
}

// --- syntax errors ---------------------------------------------------------

function sourceLine(code, line) {
  const starts = lineStarts(code);
  if (line < 1 || line > starts.length) return null;
  let end = line < starts.length ? starts[line] : code.length;
  while (end > starts[line - 1] && /[\r\n\u2028\u2029]/.test(code[end - 1])) end--;
  return code.slice(starts[line - 1], end);
}

// Node-style "user.js:LINE\n<source line>\n    ^\n\nSyntaxError: msg".
function syntaxStack(code, name, message, line, column) {
  let stack = '';
  if (line !== null) {
    stack = `${FILENAME}:${line}\n`;
    const text = sourceLine(code, line);
    if (text !== null && text.length <= 1000) {
      let caret = '';
      for (let i = 0; i < column - 1 && i < text.length; i++) caret += text[i] === '\t' ? '\t' : ' ';
      stack += `${text}\n${caret}^\n`;
    }
    stack += '\n';
  }
  return stack + errorHeader(name, message);
}

// (V8 leaves the caret out for some errors, e.g. too many arguments in a call: the line only.)
const V8_SYNTAX_LOCATION = /^user\.js:(\d+)\n([^\n]*)(?:\n(\s*)\^)?/;

function compileErrorInfo(e, code) {
  const name = typeof e.name === 'string' ? e.name : 'SyntaxError';
  const message = typeof e.message === 'string' ? e.message : safeString(e);
  let line = null;
  let column = null;
  const m = typeof e.stack === 'string' ? V8_SYNTAX_LOCATION.exec(e.stack) : null;
  if (m !== null && +m[1] >= 1) {
    line = +m[1];
    column = m[3] === undefined ? null : userColumn(line, m[3].length + 1);
  }
  return { name, message, line, column, stack: syntaxStack(code, name, message, line, column) };
}

// --- the job ---------------------------------------------------------------

function positiveInt(v) {
  return typeof v === 'number' && v >= 0 && v === Math.floor(v) && v <= Number.MAX_SAFE_INTEGER
    ? v : DEFAULT_MAX_BYTES;
}

function readJob() {
  let text;
  try {
    text = protocol.readFrame();
  } catch (_) {
    text = null;
  }
  if (text === null) exitNow(protocol.EXIT_BAD_JOB);
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch (_) {
    parsed = null;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) ||
      typeof parsed.code !== 'string') {
    exitNow(protocol.EXIT_BAD_JOB);
  }
  return parsed;
}

// The host functions of the job (host.js), installed into `target` after the profile's
// globals, so that they replace avs's stubs. One caller per job: ids count across contexts.
let hostCaller = null;
function installHost(target) {
  const spec = host.functionsOf(job);
  if (spec === null) return;
  if (hostCaller === null) {
    hostCaller = host.makeCaller({
      nonce,
      dateText: resultDates,
      gone: () => exitNow(protocol.EXIT_CHANNEL),
    }, spec.maxPayloadBytes);
  }
  host.install(target, spec, hostCaller);
}

async function run() {
  running = true;
  maxResultBytes = positiveInt(job.max_result_bytes);
  maxOutputBytes = positiveInt(job.max_output_bytes);
  const inputs = job.inputs !== null && typeof job.inputs === 'object' && !Array.isArray(job.inputs)
    ? job.inputs : {};
  const profile = job.profile === 'avs' ? 'avs' : 'node';
  job.profile = profile;
  avsModules = profile === 'avs';
  const code = job.code;

  const mode = job.mode === 'expression' || job.mode === 'template' || job.mode === 'filter' ? job.mode : 'code';
  job.mode = mode;
  if (profile === 'avs') resultDates = avs.rfc3339Nano;
  if (mode === 'template') {
    runTemplate(code, inputs, profile);
    return;
  }
  const branchRule = mode === 'expression' && profile === 'avs';
  const t = mode === 'expression' ? transformExpression(code, { markReturns: profile === 'avs' })
    : mode === 'filter' ? transformFilter(code, profile)
    : transform(code, { markReturns: profile === 'avs' });
  // AVS's branch rule: a condition that is empty, does not compile, or (upstream's
  // ValidateCodeInjection) holds a blacklisted substring is false without being run.
  const refusedBy = branchRule && !t.error ? avs.dangerousPattern(code) : null;
  const falseBecause = !branchRule ? null
    : refusedBy !== null ? 'false (security validation failed)\n  Error: dangerous pattern detected: ' + refusedBy
      : !t.error ? null
        : code === '' ? 'false (empty expression)'
          : code.trim() === '' ? 'false (expression empty after processing)'
            : 'false (evaluation error)\n  Error: SyntaxError: ' + t.error.message;
  if (falseBecause !== null) {
    if (I.ArrayIsArray(job.items)) {
      const item = '{"status":"ok","result":false,"logs":[{"level":"info","message":' + quote(falseBecause) + '}],"wall_ms":0}';
      finishWithJson('[' + job.items.map(() => item).join(',') + ']');
      return;
    }
    emitLog('info', falseBecause);
    finishWithValue(false);
    return;
  }
  if (t.error) {
    const e = t.error;
    sendErrorInfo({ ...e, stack: syntaxStack(code, e.name, e.message, e.line, e.column) });
    exitNow(0);
  }
  insertions = t.insertions;

  // Resolve static imports now (like ESM linking: before any code runs).
  const importValues = [];
  for (const imp of t.imports) {
    const fail = (name, message) => {
      sendErrorInfo({
        name, message, line: imp.line, column: imp.column,
        stack: `${name}: ${message}\n    at ${FILENAME}:${imp.line}:${imp.column}`,
      });
      exitNow(0);
    };
    if (!modules.has(imp.source)) fail('Error', notAllowedMessage(imp.source));
    const exports = loadAllowed(imp.source);
    for (const b of imp.bindings) {
      if (b.imported === 'default') {
        importValues.push(exports);
      } else if (b.imported === '*') {
        const ns = Object.create(null);
        if ((typeof exports === 'object' && exports !== null) || typeof exports === 'function') {
          for (const k of Object.keys(exports)) ns[k] = exports[k];
        }
        ns.default = exports;
        Object.defineProperty(ns, Symbol.toStringTag, { value: 'Module' });
        importValues.push(Object.freeze(ns));
      } else {
        const has = ((typeof exports === 'object' && exports !== null) || typeof exports === 'function') &&
          b.imported in exports;
        if (!has) {
          fail('SyntaxError',
            `The requested module '${imp.source}' does not provide an export named '${b.imported}'`);
        }
        importValues.push(exports[b.imported]);
      }
    }
  }

  if (I.ArrayIsArray(job.items)) {
    await runBatch(t, inputs, importValues);
    return;
  }

  let outer;
  try {
    const script = t.script || new VmScript(t.source, { filename: FILENAME, lineOffset: t.lineOffset });
    outer = script.runInThisContext();
  } catch (e) {
    sendErrorInfo(compileErrorInfo(e, code));
    exitNow(0);
  }

  let last;
  const capture = (v) => { last = v; };
  // Under avs a result that is a promise is null, as AVS's goja export gives it (the
  // promise is not awaited).
  const settledOnly = (v) => (profile === 'avs' && I.isPromise(v) ? null : v);
  const getLast = () => settledOnly(last);
  const main = outer(userRequire, importValues, capture, getLast, settledOnly);

  // Everything user code can observe or break is set up last.
  installInputs(inputs);
  I.ObjectDefineProperty(globalThis, 'console', {
    __proto__: null, value: userConsole, writable: true, configurable: true, enumerable: false,
  });
  // Direct process.reallyExit() calls skip the 'exit' event.
  processRef.reallyExit = function reallyExit(code) {
    finishWithExit(code === undefined ? 0 : code);
  };
  makeStdioBlocking();

  if (profile === 'avs') avs.install(globalThis);
  installHost(globalThis);
  if (mode === 'filter') {
    finishWithValue(await runFilter(outer, importValues, inputs));
    return;
  }

  let value;
  try {
    const promise = main();
    // Make `await` take V8's internal path (PerformPromiseThen on the real
    // promise) no matter what user code did to Promise.prototype.then,
    // Promise.prototype.constructor or Symbol.species.
    I.ObjectDefineProperty(promise, 'constructor', { __proto__: null, value: I.Promise });
    value = await promise;
  } catch (e) {
    if (branchRule) {
      emitLog('info', 'false (evaluation error)\n  Error: ' + reason(e));
      finishWithValue(false);
      return;
    }
    finishWithError(e);
    return;
  }
  if (branchRule) {
    const b = avs.branchOutcome(value, null);
    if (b.reason !== null) emitLog('info', b.reason);
    finishWithValue(b.value);
    return;
  }
  finishWithValue(value);
}

// `mode: "filter"` (vm_runner_filter.go): the predicate runs for every element of
// `inputs.items` with `value` and `index`; an element is kept when the result is truthy;
// an element whose predicate throws is skipped (with a log line, as upstream logs it).
async function runFilter(outer, importValues, inputs) {
  const items = inputs.items;
  const single = items !== null && typeof items === 'object' && !I.ArrayIsArray(items);
  if (!single && !I.ArrayIsArray(items)) {
    finishWithError(new I.Error("mode \"filter\" needs inputs.items, an array or an object (what to filter)"));
    return null;
  }
  // The predicate's value for one element, bound as `value` with its `index`.
  const test = (value, index) => {
    let last;
    const main = outer(userRequire, importValues, (v) => { last = v; }, () => last, (v) => v);
    I.ObjectDefineProperty(globalThis, 'value', { __proto__: null, value, writable: true, configurable: true, enumerable: true });
    I.ObjectDefineProperty(globalThis, 'index', { __proto__: null, value: index, writable: true, configurable: true, enumerable: true });
    return main();
  };
  // A single object is evaluated once, with index 0: kept or not, and an error is the
  // run's (vm_runner_filter.go, filterSingleMap).
  if (single) {
    try {
      return (await test(items, 0)) ? [items] : [];
    } catch (e) {
      finishWithError(e);
      return null;
    }
  }
  const kept = [];
  for (let i = 0; i < items.length; i++) {
    try {
      if (await test(items[i], i)) I.ArrayPrototypePush(kept, items[i]);
    } catch (e) {
      emitLog('info', `Error evaluating filter expression for item ${i}: ${reason(e)}. Skipping item.`);
    }
  }
  return kept;
}

// `mode: "template"`: `{{ }}` substitution over the inputs (template.js), every expression
// evaluated in a fresh context holding the inputs with their case aliases.
function runTemplate(text, inputs, profile) {
  installInputs(inputs);
  I.ObjectDefineProperty(globalThis, 'console', {
    __proto__: null, value: userConsole, writable: true, configurable: true, enumerable: false,
  });
  processRef.reallyExit = function reallyExit(code) {
    finishWithExit(code === undefined ? 0 : code);
  };
  let out;
  try {
    const context = vm.createContext(template.withAliases(inputs));
    const contextGlobal = vm.runInContext('globalThis', context);
    if (profile === 'avs') avs.install(contextGlobal);
    installHost(contextGlobal);
    const refused = profile === 'avs' ? (expr) => avs.dangerousPattern(expr) !== null : () => false;
    out = template.render(text, (script) => vm.runInContext(script, context, { filename: 'template' }),
      avs.rfc3339Nano, refused);
  } catch (e) {
    finishWithError(e);
    return;
  }
  finishWithValue(out);
}

// isolation "batch": every item in a fresh context, one after another (batch.js).
async function runBatch(t, inputs, importValues) {
  I.ObjectDefineProperty(globalThis, 'console', {
    __proto__: null, value: userConsole, writable: true, configurable: true, enumerable: false,
  });
  processRef.reallyExit = function reallyExit(code) {
    finishWithExit(code === undefined ? 0 : code);
  };
  makeStdioBlocking();
  const timeout = positiveInt(job.item_timeout_ms);
  let json;
  try {
    json = await runItems({
      source: t.source,
      filename: FILENAME,
      lineOffset: t.lineOffset,
      items: job.items,
      itemTimeoutMs: timeout > 0 ? timeout : 1,
      inputs,
      profile: job.profile,
      userRequire,
      importValues,
      console: userConsole,
      installProfile: job.profile === 'avs' ? avs.install : null,
      settledOnly: (v) => (job.profile === 'avs' && I.isPromise(v) ? null : v),
      branchRule: job.profile === 'avs' && job.mode === 'expression' ? avs.branchOutcome : null,
      reason,
      serialize: (v) => {
        const text = serialize(v, maxResultBytes);
        if (I.BufferByteLength(text, 'utf8') > maxResultBytes) throw tooLarge(maxResultBytes);
        return text;
      },
      describeError,
      collectLogs,
      quote,
      now: () => I.DateNow(),
    });
  } catch (e) {
    finishWithError(e);
    return;
  }
  finishWithJson(json);
}

// --- startup ---------------------------------------------------------------

let running = false; // the job has started (from here on, every failure is its outcome)
let userConsole = null;

function start() {
  I.captureRuntime();
  // A lazy start's job is already waiting: say ready now, so that the host's
  // side of the hand-over (job limits, writing the frame) overlaps the rest of
  // this function. Nothing runs until readJob() below, after the handlers.
  if (LAZY) send('{"type":"ready"}');
  if (!LAZY) {
    // ~1-2 ms here saves about as much on the job: acorn builds (and V8
    // compiles) its keyword regexps on first use, which no code cache holds.
    // (Not when lazy: the job is already waiting, so this would only add to it.)
    transform("import _ from 'lodash';\nconst a = [1];\na");
    serialize({ a: [1, 'x', null] }, DEFAULT_MAX_BYTES);
  }
  userConsole = makeUserConsole();
  processOn('uncaughtException', (err) => {
    if (running) finishWithError(err);
    else throw err; // a runner bug before the job: crash loudly (no job to answer)
  });
  processOn('beforeExit', () => {
    if (running && !finished) {
      sendErrorInfo({
        name: 'UnsettledError',
        message: "the code's promise never settled (nothing was left to wait for)",
      });
      exitNow(0);
    }
  });
  processOn('exit', (code) => {
    if (running) finishWithExit(code);
  });
  if (!LAZY) send('{"type":"ready"}');
  job = readJob(); // blocks until the job frame has arrived
  // The job channel stays open only for host calls' replies (host.js).
  if (host.functionsOf(job) === null) {
    try { require('fs').closeSync(protocol.JOB_FD); } catch (_) { /* already closed */ }
  }
  // Run from a fresh stack (the tick queue, right after this returns, before the
  // event loop's first turn), so user stack traces are not padded with start-up
  // frames. (A runner bug rejecting run()'s promise ends up in the
  // 'uncaughtException' handler; no promise methods are called here, user code
  // may patch them.)
  process.nextTick(run);
}

// Exercise the job path once without user code or I/O, so that the functions
// it needs are compiled (and land in the V8 code cache built from this).
// warmUpPure() is the part that needs neither stack traces nor any other run-time
// state, so the startup snapshot's builder can run it too (its bytecode is then
// in the snapshot); it draws no randomness.
function warmUpPure() {
  const sample = [
    "import _ from 'lodash';",
    "import { v4 as uuidv4 } from 'uuid';",
    'const x = { a: [1, 2.5, "s\\u2028\\n", null, true], d: new Date(0) };',
    'if (x) { for (const k of Object.keys(x)) { x[k]; } }',
    '// return in a comment',
    '`tpl ${x.a.length}`;',
    'x',
  ].join('\n');
  const t = transform(sample);
  transform('return 1');
  transform('syntax error here (');
  mapColumn(t.insertions, 7, 3);
  serialize({ a: [1, 'two', null, undefined, 1n, new Date(0), new Map([[1, 2]]), new Set([3]),
    new Uint8Array(2), 1.5, { b: true }] }, DEFAULT_MAX_BYTES);
  parseStackString('Error: x\n    at user.js:1:2\n    at f (user.js:2:3)', 'Error: x');
  syntaxStack('a b', 'SyntaxError', 'Unexpected identifier', 1, 3);
  quote('warm-up\ud800"\\');
  isIdentifierName('trigger');
  isIdentifierName('not-an-identifier');
}

function warmUp() {
  I.captureRuntime();
  warmUpPure();
  silent = true;
  try {
    const c = makeUserConsole();
    c.log('%s %d %o', 'a', 1, { b: [1] });
    c.warn({ a: 1 });
  } finally {
    silent = false;
  }
  describeError(new TypeError('warm-up'));
}

module.exports = { start, warmUp, warmUpPure };
