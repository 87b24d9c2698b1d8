'use strict';
// Turns the user's `code` into the source of a wrapper function, keeping every
// user token at its original line and column (except where the last-expression
// capture inserts text; those insertions are recorded so positions reported by
// V8 can be mapped back, see mapColumn()).
//
// Generated layout (the wrapper is compiled with filename "user.js" and
// lineOffset -1, so the user's first line is line 1):
//
//   line 0: (function (require, __nodecell_imports__, __nodecell_capture__,
//             __nodecell_last__) { return async function () { <prologue>
//   line 1..n: the user's code, import declarations blanked out
//   line n+1: ;return __nodecell_last__();
//   line n+2: }; })
//
// Only runs before user code; it may use ordinary built-ins.

const vm = require('vm');

// By file path: avoids loading node's package-exports resolver at startup.
// (This is the file acorn's exports map selects for require.)
const ACORN = require('path').join(__dirname, '..', 'node_modules', 'acorn', 'dist', 'acorn.js');
let acorn = null;
// acorn, loaded on first use. A warm runner loads it at start (loadAcorn() in
// main.js); a one-shot runner only when its job's code takes the full path below.
function loadAcorn() {
  if (acorn === null) acorn = require(ACORN);
  return acorn;
}

const WRAPPER_HEAD =
  '(function (require, __nodecell_imports__, __nodecell_capture__, __nodecell_last__, __nodecell_ret__) ' +
  '{ return async function () {';
const WRAPPER_TAIL = '\n;return __nodecell_last__();\n}; })';
const CAPTURE_OPEN = '__nodecell_capture__((';
const CAPTURE_CLOSE = '))';
const FILENAME = 'user.js';
const LINE_OFFSET = -1;

const BASE_OPTIONS = {
  ecmaVersion: 'latest',
  allowReturnOutsideFunction: true,
  allowAwaitOutsideFunction: true,
  allowHashBang: true,
};
const SCRIPT_OPTIONS = { ...BASE_OPTIONS, sourceType: 'script' };
const MODULE_OPTIONS = { ...BASE_OPTIONS, sourceType: 'module' };

const LINE_BREAK = /\r\n?|[\n\u2028\u2029]/g;

// Offsets at which each line starts (line 1 at index 0). Same line terminators
// as acorn and V8: \n, \r\n, \r, U+2028, U+2029.
function lineStarts(code) {
  const starts = [0];
  LINE_BREAK.lastIndex = 0;
  let m;
  while ((m = LINE_BREAK.exec(code)) !== null) starts.push(m.index + m[0].length);
  return starts;
}

// offset -> { line (1-based), column (0-based, UTF-16 units) }
function position(starts, offset) {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= offset) lo = mid; else hi = mid - 1;
  }
  return { line: lo + 1, column: offset - starts[lo] };
}

function syntaxError(message, line, column0) {
  return {
    name: 'SyntaxError',
    message,
    line,
    column: column0 + 1,
  };
}

function fromAcornError(e) {
  const message = String(e.message).replace(/ \(\d+:\d+\)$/, '');
  if (e.loc && typeof e.loc.line === 'number') {
    return syntaxError(message, e.loc.line, e.loc.column);
  }
  return { name: 'SyntaxError', message, line: null, column: null };
}

const IMPORT_EXPORT_ONLY_MODULE = /'import' and 'export' may appear only with 'sourceType: module'/;

function parse(code) {
  try {
    return { ast: loadAcorn().parse(code, SCRIPT_OPTIONS), module: false };
  } catch (e) {
    if (!(e instanceof SyntaxError) || !IMPORT_EXPORT_ONLY_MODULE.test(e.message)) {
      if (e instanceof SyntaxError) return { error: fromAcornError(e) };
      throw e;
    }
  }
  try {
    return { ast: loadAcorn().parse(code, MODULE_OPTIONS), module: true };
  } catch (e) {
    if (e instanceof SyntaxError) return { error: fromAcornError(e) };
    throw e;
  }
}

// Is there a ReturnStatement outside any function/class? Returns can only sit
// in statement positions, so walking statements (never expressions, which is
// where functions and classes live) is exact.
function hasTopLevelReturn(body) {
  const stack = body.slice();
  while (stack.length > 0) {
    const s = stack.pop();
    if (s === null || s === undefined) continue;
    switch (s.type) {
      case 'ReturnStatement': return true;
      case 'BlockStatement': case 'StaticBlock':
        for (const x of s.body) stack.push(x);
        break;
      case 'IfStatement': stack.push(s.consequent, s.alternate); break;
      case 'ForStatement': case 'ForInStatement': case 'ForOfStatement':
      case 'WhileStatement': case 'DoWhileStatement': case 'LabeledStatement':
      case 'WithStatement':
        stack.push(s.body);
        break;
      case 'TryStatement':
        stack.push(s.block, s.handler && s.handler.body, s.finalizer);
        break;
      case 'SwitchStatement':
        for (const c of s.cases) for (const x of c.consequent) stack.push(x);
        break;
      default: break;
    }
  }
  return false;
}

function isLineBreak(c) {
  return c === '\n' || c === '\r' || c === '\u2028' || c === '\u2029';
}

// Text replacing code[start, end): `replacement` then spaces, keeping every
// line break (so lines and columns after it do not move).
function blankText(code, start, end, replacement = '') {
  let out = replacement;
  for (let i = start + replacement.length; i < end; i++) {
    out += isLineBreak(code[i]) ? code[i] : ' ';
  }
  return out;
}

function importedName(spec) {
  switch (spec.type) {
    case 'ImportDefaultSpecifier': return 'default';
    case 'ImportNamespaceSpecifier': return '*';
    default: return spec.imported.type === 'Literal' ? String(spec.imported.value) : spec.imported.name;
  }
}

// The quick path, for code with a top-level `return` (the usual form). Such
// code needs no rewriting at all (nothing to capture, and no import
// declarations or hashbang, which are syntax errors in a function body), so V8
// alone can decide, without acorn (which costs a one-shot runner ~3 ms to load
// and warm up). Three compilations, none of which runs anything:
//  1. The code as the body of an async function, on its own (the
//     AsyncFunction constructor compiles the body alone: no text of it can
//     close the function early). It is valid, so its brackets balance.
//  2. The code in a class static block: V8 meets a `return` outside any
//     function before any other error. (The code can't leave the block, by 1.
//     V8 reports the first error in source order, and a static block also
//     rejects `await` and `arguments`: code using those before its return goes
//     the full way.)
//  3. The wrapper around it, as it will run (the compiled script is returned).
// Returns the transform, or null.
const AsyncFunction = (async function () {}).constructor;
const ILLEGAL_RETURN = 'Illegal return statement';

function quickTransform(code) {
  try {
    new AsyncFunction(code);
  } catch (_) {
    return null; // the full path reports the error
  }
  try {
    Function('class StaticBlock { static {\n' + code + '\n} }');
    return null; // no top-level return
  } catch (e) {
    if (!(e instanceof SyntaxError) || e.message !== ILLEGAL_RETURN) return null;
  }
  const source = WRAPPER_HEAD + '\n' + code + WRAPPER_TAIL;
  let script;
  try {
    script = new vm.Script(source, { filename: FILENAME, lineOffset: LINE_OFFSET });
  } catch (_) {
    return null;
  }
  // (A "use strict" directive needs no prologue: the code starts the function body.)
  return {
    source,
    script,
    imports: [],
    insertions: Object.create(null),
    strict: null,
    captured: false,
    hasReturn: true,
    filename: FILENAME,
    lineOffset: LINE_OFFSET,
  };
}

/**
 * @returns {{ error }} for a syntax error, or
 *   { source, imports, insertions, strict, captured, hasReturn, filename, lineOffset }
 *   imports: [{ source, line, column, bindings: [{ imported, local }] }]
 *     (line/column 1-based, of the module specifier)
 *   insertions: line -> [{ column (0-based user column), length }] (null-prototype object)
 *   script: the compiled wrapper (vm.Script), when the quick path made it
 *   strict: null when the quick path did not look (V8 honours the directive)
 */
function transform(code, options = {}) {
  if (typeof code !== 'string') code = String(code);
  const markReturns = options.markReturns === true;
  const quick = markReturns ? null : quickTransform(code);
  if (quick !== null) return quick;
  const parsed = parse(code);
  if (parsed.error) return { error: parsed.error };
  const { ast } = parsed;
  const starts = lineStarts(code);
  const edits = []; // { start, end, text }, non-overlapping
  const imports = [];
  const body = ast.body;

  // Hashbang (acorn accepts it; a function body would not).
  if (code.startsWith('#!')) {
    let end = 2;
    while (end < code.length && !isLineBreak(code[end])) end++;
    edits.push({ start: 0, end, text: blankText(code, 0, end) });
  }

  if (parsed.module) {
    for (const node of body) {
      if (node.type === 'ImportDeclaration') {
        const p = position(starts, node.source.start);
        imports.push({
          source: String(node.source.value),
          line: p.line,
          column: p.column + 1,
          bindings: node.specifiers.map((s) => ({ imported: importedName(s), local: s.local.name })),
        });
        // An empty statement where the declaration was: terminates whatever
        // precedes it exactly like the declaration did (no ASI surprises).
        edits.push({ start: node.start, end: node.end, text: blankText(code, node.start, node.end, ';') });
      } else if (node.type === 'ExportNamedDeclaration' || node.type === 'ExportDefaultDeclaration' ||
                 node.type === 'ExportAllDeclaration') {
        const p = position(starts, node.start);
        return {
          error: syntaxError("'export' is not supported: the code runs as the body of an async function; use 'return' to produce the result",
            p.line, p.column),
        };
      }
    }
  }

  const strict = body.length > 0 && body[0].type === 'ExpressionStatement' &&
    body[0].directive === 'use strict';
  const hasReturn = hasTopLevelReturn(body);
  // line -> [{ column, length }]; a null-prototype object of plain arrays,
  // because mapColumn() runs after user code (which may patch Map/Array
  // prototypes) and only reads own properties.
  const insertions = Object.create(null);
  let captured = false;
  if (!hasReturn) captured = instrumentCompletion(body, edits);
  else if (markReturns) markTopLevelReturns(body, edits);
  for (const e of edits) {
    if (e.start !== e.end) continue; // a replacement (import, hashbang), not an insertion
    const p = position(starts, e.start);
    if (insertions[p.line] === undefined) insertions[p.line] = [];
    const list = insertions[p.line];
    const same = list.find((x) => x.column === p.column);
    if (same) same.length += e.text.length; else list.push({ column: p.column, length: e.text.length });
  }
  for (const line of Object.keys(insertions)) insertions[line].sort((a, b) => a.column - b.column);

  let prologue = strict ? ' "use strict";' : '';
  let index = 0;
  for (const imp of imports) {
    for (const b of imp.bindings) {
      prologue += ` const ${b.local} = __nodecell_imports__[${index++}];`;
    }
  }

  // At one offset: replacements, then closing insertions (innermost first), then opening
  // ones (outermost first).
  edits.sort((a, b) => a.start - b.start || a.end - b.end || rank(a) - rank(b));
  let user = '';
  let at = 0;
  for (const e of edits) {
    user += code.slice(at, e.start) + e.text;
    at = e.end;
  }
  user += code.slice(at);

  const source = WRAPPER_HEAD + prologue + '\n' + user + WRAPPER_TAIL;
  return {
    source,
    imports,
    insertions,
    strict,
    captured,
    hasReturn,
    filename: FILENAME,
    lineOffset: LINE_OFFSET,
  };
}

const RESET = ';__nodecell_capture__(void 0);';
const RET_OPEN = '__nodecell_ret__((';

// Every top-level `return x` becomes `return __nodecell_ret__((x))`, so that the runner sees
// the value before the async wrapper adopts it (the avs profile gives a returned promise as
// null, as goja's export does).
function markTopLevelReturns(body, edits) {
  const stack = body.slice();
  while (stack.length > 0) {
    const s = stack.pop();
    if (s === null || s === undefined) continue;
    switch (s.type) {
      case 'ReturnStatement':
        if (s.argument) {
          edits.push({ start: s.argument.start, end: s.argument.start, text: RET_OPEN, depth: 0, close: false });
          edits.push({ start: s.argument.end, end: s.argument.end, text: CAPTURE_CLOSE, depth: 0, close: true });
        }
        break;
      case 'BlockStatement': case 'StaticBlock': for (const x of s.body) stack.push(x); break;
      case 'IfStatement': stack.push(s.consequent, s.alternate); break;
      case 'ForStatement': case 'ForInStatement': case 'ForOfStatement':
      case 'WhileStatement': case 'DoWhileStatement': case 'LabeledStatement': case 'WithStatement':
        stack.push(s.body); break;
      case 'TryStatement': stack.push(s.block, s.handler && s.handler.body, s.finalizer); break;
      case 'SwitchStatement': for (const c of s.cases) for (const x of c.consequent) stack.push(x); break;
      default: break;
    }
  }
}

// Sort key of edits at one offset (see transform()).
function rank(e) {
  if (e.start !== e.end) return -Infinity;
  return e.close ? -1e6 - (e.depth || 0) : (e.depth || 0);
}

// The program's completion value, as eval() would give it, for code without a top-level
// return: every expression statement outside functions records its value, and every
// statement whose completion the language turns from empty into undefined (if, loops,
// switch, try, with: UpdateEmpty(..., undefined)) records undefined as it starts, so
// the last value recorded when the code ends is the completion value. A catch block
// starts from undefined; a finally block that completes normally restores the value it
// found (its own normal completion does not count). Statements in a single-statement
// position (an if's branch, a loop's body) get braces around the inserted reset.
// Returns whether anything was instrumented.
function instrumentCompletion(body, edits) {
  let any = false;
  let saved = 0;
  const insert = (at, text, depth, close) => edits.push({ start: at, end: at, text, depth, close });
  function list(stmts, depth) {
    for (const s of stmts) visit(s, false, depth, s.start);
  }
  function reset(s, slot, depth, from) {
    any = true;
    if (slot) {
      insert(from, '{' + RESET, depth, false);
      insert(s.end, '}', depth, true);
    } else {
      insert(from, RESET, depth, false);
    }
  }
  function visit(s, slot, depth, from) {
    if (s === null || s === undefined) return;
    switch (s.type) {
      case 'ExpressionStatement':
        any = true;
        insert(s.expression.start, CAPTURE_OPEN, depth + 1, false);
        insert(s.expression.end, CAPTURE_CLOSE, depth + 1, true);
        break;
      case 'BlockStatement':
        list(s.body, depth + 1);
        break;
      case 'LabeledStatement':
        visit(s.body, slot, depth, from);
        break;
      case 'IfStatement':
        reset(s, slot, depth, from);
        visit(s.consequent, true, depth + 1, s.consequent.start);
        if (s.alternate) visit(s.alternate, true, depth + 1, s.alternate.start);
        break;
      case 'ForStatement': case 'ForInStatement': case 'ForOfStatement':
      case 'WhileStatement': case 'DoWhileStatement': case 'WithStatement':
        reset(s, slot, depth, from);
        visit(s.body, true, depth + 1, s.body.start);
        break;
      case 'SwitchStatement':
        reset(s, slot, depth, from);
        for (const c of s.cases) list(c.consequent, depth + 1);
        break;
      case 'TryStatement':
        reset(s, slot, depth, from);
        list(s.block.body, depth + 1);
        if (s.handler) {
          insert(s.handler.body.start + 1, RESET, depth + 1, false);
          list(s.handler.body.body, depth + 1);
        }
        if (s.finalizer) {
          const name = `__nodecell_saved_${saved++}__`;
          insert(s.finalizer.start + 1, `let ${name} = __nodecell_last__();`, depth + 1, false);
          list(s.finalizer.body, depth + 1);
          insert(s.finalizer.end - 1, `;__nodecell_capture__(${name});`, depth + 1, true);
        }
        break;
      default: break; // declarations, empty statements, break/continue/throw, debugger
    }
  }
  list(body, 0);
  return any;
}

// Map a 0-based column reported by V8 on user line `line` back to the user's
// column (0-based). A position inside inserted text maps to its insertion point.
function mapColumn(insertions, line, genColumn) {
  const list = insertions ? insertions[line] : undefined;
  if (list === undefined) return genColumn;
  let shift = 0;
  // list is in increasing column order (open before close on the same line)
  for (let i = 0; i < list.length; i++) {
    const ins = list[i];
    const genStart = ins.column + shift;
    if (genColumn < genStart) break;
    if (genColumn < genStart + ins.length) return ins.column;
    shift += ins.length;
  }
  return genColumn - shift;
}

const EXPRESSION_OPEN = 'return (';

// `mode: "expression"`: `code` must be exactly one expression (comments and white space
// around it allowed); it becomes `return (<code>\n);` with the user's text at its own
// lines and columns (the prefix is recorded as an insertion on line 1).
function transformExpression(code, options = {}) {
  if (typeof code !== 'string') code = String(code);
  if (code.trim() === '') return { error: syntaxError('the expression is empty', 1, 0) };
  const a = loadAcorn();
  let node;
  try {
    node = a.parseExpressionAt(code, 0, { ecmaVersion: 'latest', allowAwaitOutsideFunction: true });
  } catch (e) {
    if (e instanceof SyntaxError) return { error: fromAcornError(e) };
    throw e;
  }
  // Only comments and white space may follow the expression.
  try {
    const rest = a.tokenizer(code.slice(node.end), { ecmaVersion: 'latest' });
    const tok = rest.getToken();
    if (tok.type !== a.tokTypes.eof) {
      const p = position(lineStarts(code), node.end + tok.start);
      return { error: syntaxError('the code must be one expression (mode "expression"); this is more', p.line, p.column) };
    }
  } catch (e) {
    if (e instanceof SyntaxError) return { error: fromAcornError(e) };
    throw e;
  }
  const t = transform(EXPRESSION_OPEN + code + '\n);', options);
  if (t.error) return t;
  const insertions = Object.create(null);
  insertions[1] = [{ column: 0, length: EXPRESSION_OPEN.length }];
  return { ...t, insertions };
}

// `mode: "filter"`: upstream's rule (vm_runner_filter.go) decides the form: a predicate
// whose text contains "if" or "return" is a function body, anything else an expression.
// Under the node profile a body is whatever has a top-level return or is not one
// expression.
function transformFilter(code, profile) {
  if (typeof code !== 'string') code = String(code);
  const body = profile === 'avs'
    ? code.includes('if') || code.includes('return')
    : transformExpression(code).error !== undefined;
  if (!body) return transformExpression(code);
  // Upstream's body is a plain function body: only its return gives a value.
  return profile === 'avs' ? transform(code + '\n;return undefined;') : transform(code);
}

module.exports = { transform, transformExpression, transformFilter, mapColumn, lineStarts, position, loadAcorn, FILENAME, LINE_OFFSET };
