'use strict';
// The `avs` profile: EigenLayer-AVS's exact semantics where they differ from Node's
// (docs/avs.md lists each with its upstream source, AvaProtocol/EigenLayer-AVS):
//  - globals patched as core/taskengine/macros/goja_utils.go does (Date.prototype.toString
//    in UTC, Object.prototype.toString always "[object Object]", a crypto object with
//    only getRandomValues);
//  - the pure macros of core/taskengine/macros/exp.go as globals (toBigInt, bigCmp,
//    bigGt, bigLt, parseUnit); the macros that reach the network or the chain (fetch,
//    readContractData, priceChainlink, chainlinkPrice, latestRoundDataChainlink) and the
//    durable `state` are host calls: until nodecell provides them, calling one throws an
//    error that names it;
//  - Dates in a result as Go's time.Time.UTC().Format(time.RFC3339Nano)
//    (vm_runner_customcode.go, sanitizeGojaExportForProtobuf).
// Also here, for both profiles: `{{ }}` templates (vm.go, preprocessTextWithVariableMapping)
// and the branch and filter rules (vm_runner_branch.go, vm_runner_filter.go).

const I = require('./intrinsics');

// --- macros ----------------------------------------------------------------

// go-ethereum's math.ParseBig256: "" is 0; "0x"/"0X" then hex, else decimal (an optional
// sign, as big.Int.SetString takes it); more than 256 bits is a failure.
const DECIMAL = /^[+-]?[0-9]+$/;
const HEX = /^[+-]?[0-9a-fA-F]+$/;
function parseBig256(s) {
  if (s === '') return 0n;
  let v;
  if (s.length >= 2 && (s[0] === '0') && (s[1] === 'x' || s[1] === 'X')) {
    const digits = s.slice(2);
    if (!HEX.test(digits)) return null;
    const neg = digits[0] === '-';
    const body = digits[0] === '-' || digits[0] === '+' ? digits.slice(1) : digits;
    v = BigInt('0x' + body);
    if (neg) v = -v;
  } else {
    if (!DECIMAL.test(s)) return null;
    v = BigInt(s);
  }
  const magnitude = v < 0n ? -v : v;
  if (magnitude.toString(2).length > 256 && magnitude !== 0n) return null;
  return v;
}

// A macro's *big.Int parameter: goja converts only a BigInt to one; anything else is a
// TypeError the code can catch.
function bigArg(name, i, v) {
  if (typeof v === 'bigint') return v;
  throw new TypeError(`${name}: argument ${i} must be a BigInt (got ${typeof v})`);
}

function toBigInt(val) {
  return parseBig256(String(val));
}

function bigCmp(a, b) {
  const x = bigArg('bigCmp', 0, a);
  const y = bigArg('bigCmp', 1, b);
  return x < y ? -1 : (x > y ? 1 : 0);
}

function bigGt(a, b) { return bigArg('bigGt', 0, a) > bigArg('bigGt', 1, b); }
function bigLt(a, b) { return bigArg('bigLt', 0, a) < bigArg('bigLt', 1, b); }

const PARSE_UNIT = /^[0-9]+(\.[0-9]*)?$/;
const PARSE_UNIT_MAX_DECIMALS = 78;
// Go's %q of a string (close enough for the error text: JSON's escapes).
const goQuote = (s) => JSON.stringify(s);

// ethers' parseUnits(value, decimals) as upstream's ParseUnit: a non-negative decimal,
// scaled by 10^decimals; errors verbatim.
function parseUnit(val, decimal) {
  const s = String(val);
  if (!PARSE_UNIT.test(s)) {
    throw new Error(`Parse error: ${goQuote(s)} is not a non-negative decimal number`);
  }
  const d = Number(decimal);
  if (!Number.isInteger(d) || d < 0) {
    throw new TypeError(`parseUnit: decimals must be a non-negative integer: ${String(decimal)}`);
  }
  if (d > PARSE_UNIT_MAX_DECIMALS) {
    throw new Error(`Parse error: decimals ${d} out of range (max ${PARSE_UNIT_MAX_DECIMALS})`);
  }
  const [whole, frac] = s.split('.');
  let result = BigInt(whole) * 10n ** BigInt(d);
  if (frac !== undefined && frac !== '') {
    if (frac.length > d) {
      throw new Error(`Parse error: fractional part ${goQuote(frac)} exceeds ${d} decimals in ${goQuote(s)}`);
    }
    result += BigInt(frac + '0'.repeat(d - frac.length));
  }
  return result;
}

class HostCallError extends Error {}
Object.defineProperty(HostCallError.prototype, 'name', { value: 'HostCallError', writable: true, configurable: true });

function hostCall(name) {
  const f = {
    [name]() {
      throw new HostCallError(`${name} is an AVS host call (it reaches the network, the chain or durable state), which this nodecell does not provide yet`);
    },
  }[name];
  return f;
}

const HOST_MACROS = ['fetch', 'readContractData', 'priceChainlink', 'chainlinkPrice', 'latestRoundDataChainlink'];

// The globals a job under `avs` gets on top of Node's.
function globals() {
  const g = { toBigInt, bigCmp, bigGt, bigLt, parseUnit };
  for (const name of HOST_MACROS) g[name] = hostCall(name);
  g.state = { get: hostCall('state.get'), set: hostCall('state.set'), list: hostCall('state.list') };
  g.crypto = { getRandomValues };
  return g;
}

// goja_utils.go's crypto.getRandomValues: any array-like of length 0..65536, each element
// set to a random byte.
function getRandomValues(array) {
  if (array === undefined || array === null) {
    throw new TypeError('crypto.getRandomValues: array argument required');
  }
  const length = array.length;
  if (length === undefined || length === null) {
    throw new TypeError('crypto.getRandomValues: array argument must have a length property');
  }
  const n = Math.trunc(Number(length)) || 0;
  if (n < 0 || n > 65536) {
    throw new TypeError('crypto.getRandomValues: array length must be between 0 and 65536');
  }
  if (n === 0) return array;
  const bytes = require('crypto').randomBytes(n);
  for (let i = 0; i < n; i++) array[i] = bytes[i];
  return array;
}

// Installs the profile into `target` (globalThis, or an item's context global with its
// own Date and Object), as goja_utils.go configures a runtime.
function install(target) {
  const g = globals();
  for (const name of Object.keys(g)) {
    Object.defineProperty(target, name, { value: g[name], writable: true, configurable: true, enumerable: false });
  }
  const D = target.Date;
  Object.defineProperty(D.prototype, 'toString', {
    value: function toString() { return D.prototype.toUTCString.call(this).replace('GMT', 'UTC'); },
    writable: true, configurable: true, enumerable: false,
  });
  Object.defineProperty(target.Object.prototype, 'toString', {
    value: function toString() { return '[object Object]'; },
    writable: true, configurable: true, enumerable: false,
  });
}

// Go's time.Time.UTC().Format(time.RFC3339Nano) for a Date's milliseconds: the fraction's
// trailing zeros trimmed (none at all for a whole second).
function rfc3339Nano(ms) {
  const iso = I.DatePrototypeToISOString(new Date(ms)); // 2026-01-15T10:30:00.120Z
  const dot = iso.lastIndexOf('.');
  let frac = iso.slice(dot + 1, iso.length - 1);
  while (frac.endsWith('0')) frac = frac.slice(0, -1);
  return iso.slice(0, dot) + (frac === '' ? '' : '.' + frac) + 'Z';
}

// --- branch and filter -----------------------------------------------------

// vm_security.go's ValidateCodeInjection: a case-sensitive substring blacklist that upstream
// applies to branch conditions and template paths (it matches inside names and strings
// too: `data.processed` is refused). Returns the pattern found, or null.
const DANGEROUS = ['eval', 'Function', 'setTimeout', 'setInterval', 'require', 'import',
  'export', 'global', 'process', 'constructor', 'prototype', '__proto__'];
function dangerousPattern(expr) {
  for (const p of DANGEROUS) if (expr.includes(p)) return p;
  return null;
}

// vm_runner_branch.go: a condition holds only when its value is the boolean true; an
// error or any other value is false, with the reason upstream logs.
function branchOutcome(value, error) {
  if (error !== null) return { value: false, reason: 'false (evaluation error)' };
  if (typeof value !== 'boolean') return { value: false, reason: `false (non-boolean result: ${typeof value})` };
  return { value, reason: null };
}

module.exports = {
  dangerousPattern, globals, install, rfc3339Nano, branchOutcome, parseBig256, parseUnit, toBigInt, bigCmp,
  HOST_MACROS,
};
