'use strict';
// `mode: "template"`: `{{ expression }}` substitution with EigenLayer-AVS's rules
// (core/taskengine/vm.go, preprocessTextWithVariableMapping and resolveVariablePath;
// vm_template_compat.go for the case aliases):
//  - left to right, at most 100 substitutions; each takes the first `{{` and the first `}}`
//    after it (a replacement that contains `{{ }}` is substituted again);
//  - an empty expression, or one containing `{{`/`}}`, is removed;
//  - a simple variable path (no spaces, operators, brackets or quotes) whose first segment
//    has a hyphen gives "undefined"; hyphenated later segments are read as properties
//    (`headers.X-Trigger-Version`);
//  - the expression is evaluated over the variables, each object key also reachable in its
//    other spelling (snake_case <-> camelCase); an exception, undefined or null gives
//    "undefined";
//  - a Date gives "2006-01-02 15:04:05.000 +0000 UTC"; a plain object or an array gives
//    Go's JSON (keys sorted, <>& escaped, the case aliases included); a string itself; a
//    number as Go's %v prints it; anything else its string.

const I = require('./intrinsics');

const MAX_SUBSTITUTIONS = 100;

// Go's strings.TrimSpace (Unicode white space).
const trimSpace = (s) => s.replace(/^[\s\u0085]+|[\s\u0085]+$/gu, '');

const NOT_SIMPLE = [' ', '+', '*', '/', '%', '(', ')', '[', ']', '"', "'", '`', '==', '!=', '>', '<', '&&', '||'];
function isSimpleVariablePath(expr) {
  return !NOT_SIMPLE.some((c) => expr.includes(c));
}

function isLowerOrDigit(c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

function snakeToCamel(s) {
  let out = '';
  let upperNext = false;
  let leading = true;
  for (const c of s) {
    if (c === '_') {
      if (leading) out += c; else upperNext = true;
      continue;
    }
    leading = false;
    out += upperNext && c >= 'a' && c <= 'z' ? c.toUpperCase() : c;
    upperNext = false;
  }
  return out;
}

function camelToSnake(s) {
  const r = Array.from(s);
  let out = '';
  for (let i = 0; i < r.length; i++) {
    const c = r[i];
    if (c >= 'A' && c <= 'Z') {
      const prev = i > 0 ? r[i - 1] : '';
      const next = i + 1 < r.length ? r[i + 1] : '';
      if (i > 0 && (isLowerOrDigit(prev) || (prev >= 'A' && prev <= 'Z' && next >= 'a' && next <= 'z'))) out += '_';
      out += c.toLowerCase();
    } else {
      out += c;
    }
  }
  return out;
}

function alternateSpelling(name) {
  if (name === '' || !/^[\p{L}\p{Nd}_$]+$/u.test(name)) return '';
  if (name.includes('_')) return snakeToCamel(name);
  if (/[A-Z]/.test(name)) return camelToSnake(name);
  return '';
}

// A copy of the variables as plain data with every key's other spelling added (maps and
// arrays, recursively; what Go's template resolver sees).
function withAliases(v) {
  if (Array.isArray(v)) return v.map(withAliases);
  if (v === null || typeof v !== 'object' || I.isDate(v)) return v;
  const out = {};
  for (const k of Object.keys(v)) out[k] = withAliases(v[k]);
  for (const k of Object.keys(out)) {
    const alias = alternateSpelling(k);
    if (alias !== '' && alias !== k && !Object.prototype.hasOwnProperty.call(out, alias)) out[alias] = out[k];
  }
  return out;
}

// Go's fmt %v of a float64 exported by goja: an integral value that fits int64 is an
// int64 there (plain digits); otherwise the shortest digits, in exponent form when the
// decimal exponent is < -4 or >= 6 (strconv's %g rule for the shortest form).
function goFloat(x) {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return '+Inf';
  if (x === -Infinity) return '-Inf';
  if (Number.isInteger(x) && Math.abs(x) < 2 ** 63) {
    return Object.is(x, -0) ? '-0' : BigInt(x).toString();
  }
  const [mant, expText] = x.toExponential().split('e');
  const exp = Number(expText);
  const neg = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  if (exp < -4 || exp >= 6) {
    const e = Math.abs(exp) < 10 ? '0' + Math.abs(exp) : String(Math.abs(exp));
    return (neg ? '-' : '') + digits[0] + (digits.length > 1 ? '.' + digits.slice(1) : '') + 'e' + (exp < 0 ? '-' : '+') + e;
  }
  // Plain decimal with exactly the shortest digits.
  let s;
  if (exp < 0) s = '0.' + '0'.repeat(-exp - 1) + digits;
  else if (digits.length > exp + 1) s = digits.slice(0, exp + 1) + '.' + digits.slice(exp + 1);
  else s = digits + '0'.repeat(exp + 1 - digits.length);
  return (neg ? '-' : '') + s;
}

const pad = (n, w) => String(n).padStart(w, '0');
// time.Time.Format("2006-01-02 15:04:05.000 +0000 UTC") in UTC.
function goTime(d) {
  const t = I.DatePrototypeGetTime(d);
  const x = new Date(t);
  return `${pad(x.getUTCFullYear(), 4)}-${pad(x.getUTCMonth() + 1, 2)}-${pad(x.getUTCDate(), 2)} ` +
    `${pad(x.getUTCHours(), 2)}:${pad(x.getUTCMinutes(), 2)}:${pad(x.getUTCSeconds(), 2)}.${pad(x.getUTCMilliseconds(), 3)} +0000 UTC`;
}

const HTML = /[<>&\u2028\u2029]/g;
const goString = (s) => JSON.stringify(s).replace(HTML, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));

// Go's json.Marshal of a goja export (throws where Go's would fail).
function goJson(v, rfc3339Nano, depth = 0) {
  if (depth > 1000) throw new Error('json: too deep');
  if (v === undefined || v === null) return 'null';
  switch (typeof v) {
    case 'string': return goString(v);
    case 'boolean': return String(v);
    case 'bigint': return v.toString();
    case 'number':
      if (!Number.isFinite(v)) throw new Error('json: unsupported value');
      return JSON.stringify(v);
    case 'function': case 'symbol': throw new Error('json: unsupported type');
    default: break;
  }
  if (I.isDate(v)) return '"' + rfc3339Nano(I.DatePrototypeGetTime(v)) + '"';
  if (Array.isArray(v)) return '[' + v.map((x) => goJson(x, rfc3339Nano, depth + 1)).join(',') + ']';
  const keys = Object.keys(v).sort();
  return '{' + keys.map((k) => goString(k) + ':' + goJson(v[k], rfc3339Nano, depth + 1)).join(',') + '}';
}

function replacement(value, rfc3339Nano) {
  if (I.isDate(value)) return goTime(value);
  if (Array.isArray(value) || (typeof value === 'object' && value !== null && !I.isMap(value) && !I.isSet(value))) {
    try {
      return goJson(value, rfc3339Nano);
    } catch (_) {
      return Array.isArray(value) ? String(value) : '[object Object]';
    }
  }
  if (typeof value === 'number') return goFloat(value);
  return String(value);
}

// The script that reads `expr` (hyphenated property names in bracket form), as upstream.
function pathScript(expr) {
  let script = expr;
  if (isSimpleVariablePath(expr) && expr.includes('.')) {
    const parts = expr.split('.');
    for (let i = 1; i < parts.length; i++) {
      if (parts[i].includes('-')) {
        let rest = '';
        if (i + 1 < parts.length) {
          rest = '.' + parts.slice(i + 1).join('.');
          if (rest.includes('-')) {
            rest = parts.slice(i + 1).map((p) => (p.includes('-') ? `["${p}"]` : '.' + p)).join('');
          }
        }
        script = `${parts.slice(0, i).join('.')}["${parts[i]}"]${rest}`;
        break;
      }
    }
  }
  return `(() => { try { return ${script}; } catch(e) { return undefined; } })()`;
}

/**
 * @param text the template
 * @param evaluate(script) -> value; runs a script over the variables (with aliases), throws
 *   on a syntax error
 * @param refused(expr) -> whether the expression is not evaluated at all (under avs,
 *   upstream's ValidateCodeInjection blacklist: it gives "undefined")
 */
function render(text, evaluate, rfc3339Nano, refused = () => false) {
  if (!text.includes('{{') || !text.includes('}}')) return text;
  let result = text;
  for (let i = 0; i < MAX_SUBSTITUTIONS; i++) {
    const start = result.indexOf('{{');
    if (start === -1) break;
    let end = result.slice(start).indexOf('}}');
    if (end === -1) break;
    end += start;
    const expr = trimSpace(result.slice(start + 2, end));
    if (expr === '' || expr.includes('{{') || expr.includes('}}')) {
      result = result.slice(0, start) + result.slice(end + 2);
      continue;
    }
    let text2 = 'undefined';
    if (!(isSimpleVariablePath(expr) && expr.split('.')[0].includes('-')) && !refused(expr)) {
      let value;
      try {
        value = evaluate(pathScript(expr));
      } catch (_) {
        value = undefined;
      }
      if (value !== undefined && value !== null && String(value) !== 'undefined') {
        text2 = replacement(value, rfc3339Nano);
      }
    }
    result = result.slice(0, start) + text2 + result.slice(end + 2);
  }
  return result;
}

module.exports = { render, withAliases, alternateSpelling, goFloat, goJson, goTime };
