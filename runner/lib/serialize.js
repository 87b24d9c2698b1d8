'use strict';
// Result value -> JSON text, without JSON.stringify and without consulting
// anything user code can patch (toJSON, prototypes' methods, Symbol.species).
//
// Rules:
//   string/boolean/finite number  -> as JSON
//   NaN, +-Infinity               -> null
//   bigint (and BigInt objects)   -> decimal string
//   undefined, function, symbol   -> null (also as property values / items)
//   Date                          -> ISO 8601 string (invalid Date -> null)
//   boxed primitives              -> the primitive
//   Map                           -> object, keys String()-ed (later keys win)
//   Set                           -> array
//   ArrayBuffer, SharedArrayBuffer, typed arrays, DataView -> array of numbers
//                                    (BigInt64Array items -> decimal strings)
//   arrays                        -> arrays (holes read like JSON.stringify)
//   other objects                 -> own enumerable string-keyed properties
//   toJSON is never called.
// Failures throw ResultError (circular / too deep) or ResultTooLarge.

const I = require('./intrinsics');
const { quote } = require('./protocol');

// The host parses frames with serde_json, whose nesting limit is 128; the result sits one
// level inside its frame, and within the outcome a client parses. 120 leaves both a margin.
const MAX_DEPTH = 120;

class ResultError extends Error {}
I.ObjectDefineProperty(ResultError.prototype, 'name', {
  value: 'ResultError', writable: true, configurable: true,
});
class ResultTooLarge extends Error {}
I.ObjectDefineProperty(ResultTooLarge.prototype, 'name', {
  value: 'ResultTooLarge', writable: true, configurable: true,
});

// Errors raised by the serializer itself (reported without stack/position).
const internalErrors = new I.WeakSet();
function internal(err) {
  I.WeakSetPrototypeAdd(internalErrors, err);
  return err;
}
function isInternalError(v) {
  return (typeof v === 'object' && v !== null) && I.WeakSetPrototypeHas(internalErrors, v);
}

function tooLarge(limit) {
  return internal(new ResultTooLarge(
    `result exceeds max_result_bytes (${limit} bytes of JSON)`));
}

// Serialize `value`; returns the JSON text. `maxBytes` is the UTF-8 size cap.
function serialize(value, maxBytes, dateText = null) {
  let out = '';
  const ancestors = new I.Set();

  // UTF-8 bytes >= UTF-16 code units for our output (escapes are ASCII), so
  // out.length > maxBytes proves the final text is too large.
  function emit(s) {
    out += s;
    if (out.length > maxBytes) throw tooLarge(maxBytes);
  }

  function number(n) {
    // n !== n is NaN. String concatenation of a number primitive uses the
    // engine's Number::toString, the same as JSON.stringify.
    if (n !== n || n === Infinity || n === -Infinity) return 'null';
    return '' + n;
  }

  function primitive(v) {
    switch (typeof v) {
      case 'string': return quote(v);
      case 'number': return number(v);
      case 'boolean': return v ? 'true' : 'false';
      case 'bigint': return '"' + v + '"';
      default: return 'null'; // undefined, symbol
    }
  }

  function enter(obj, depth) {
    if (depth > MAX_DEPTH) {
      throw internal(new ResultError(`result nesting exceeds ${MAX_DEPTH} levels`));
    }
    if (I.SetPrototypeHas(ancestors, obj)) {
      throw internal(new ResultError('result contains a circular reference (circular structure cannot be converted to JSON)'));
    }
    I.SetPrototypeAdd(ancestors, obj);
  }

  function leave(obj) {
    I.SetPrototypeDelete(ancestors, obj);
  }

  function bytesOf(u8, start, len) {
    emit('[');
    for (let i = 0; i < len; i++) {
      emit(i === 0 ? '' + u8[start + i] : ',' + u8[start + i]);
    }
    emit(']');
  }

  function write(v, depth) {
    const t = typeof v;
    if (t !== 'object' || v === null) {
      if (t === 'function') { emit('null'); return; }
      emit(v === null ? 'null' : primitive(v));
      return;
    }

    // Objects with internal slots (checked via util.types, not instanceof:
    // these look at the real object, a Proxy is just an object here).
    if (I.isDate(v)) {
      const time = I.DatePrototypeGetTime(v);
      emit(time !== time ? 'null' : quote(dateText !== null ? dateText(time) : I.DatePrototypeToISOString(v)));
      return;
    }
    if (I.isNumberObject(v)) { emit(number(I.NumberPrototypeValueOf(v))); return; }
    if (I.isStringObject(v)) { emit(quote(I.StringPrototypeValueOf(v))); return; }
    if (I.isBooleanObject(v)) { emit(I.BooleanPrototypeValueOf(v) ? 'true' : 'false'); return; }
    if (I.isBigIntObject(v)) { emit('"' + I.BigIntPrototypeValueOf(v) + '"'); return; }
    if (I.isSymbolObject(v)) { emit('null'); return; }

    if (I.isArrayBuffer(v) || I.isSharedArrayBuffer(v)) {
      const u8 = new I.Uint8Array(v);
      bytesOf(u8, 0, I.TypedArrayPrototypeGetLength(u8));
      return;
    }
    if (I.isDataView(v)) {
      const u8 = new I.Uint8Array(I.DataViewPrototypeGetBuffer(v),
        I.DataViewPrototypeGetByteOffset(v), I.DataViewPrototypeGetByteLength(v));
      bytesOf(u8, 0, I.TypedArrayPrototypeGetLength(u8));
      return;
    }
    if (I.isTypedArray(v)) {
      // Integer-indexed element reads never consult the prototype chain.
      const len = I.TypedArrayPrototypeGetLength(v);
      emit('[');
      for (let i = 0; i < len; i++) {
        if (i !== 0) emit(',');
        emit(primitive(v[i]));
      }
      emit(']');
      return;
    }

    enter(v, depth + 1);
    if (I.isMap(v)) {
      // Later duplicates (after String()) win, position of the first is kept.
      const entries = new I.Map();
      const keys = new I.Map(); // index -> key, insertion order
      let count = 0;
      I.MapPrototypeForEach(v, (val, key) => {
        const k = typeof key === 'string' ? key : I.String(key);
        if (!I.MapPrototypeHas(entries, k)) I.MapPrototypeSet(keys, count++, k);
        I.MapPrototypeSet(entries, k, val);
      });
      emit('{');
      for (let i = 0; i < count; i++) {
        const k = I.MapPrototypeGet(keys, i);
        emit((i === 0 ? '' : ',') + quote(k) + ':');
        write(I.MapPrototypeGet(entries, k), depth + 1);
      }
      emit('}');
    } else if (I.isSet(v)) {
      let first = true;
      emit('[');
      I.SetPrototypeForEach(v, (item) => {
        if (!first) emit(',');
        first = false;
        write(item, depth + 1);
      });
      emit(']');
    } else if (I.ArrayIsArray(v)) {
      // Array.isArray is also true for a Proxy of an array: go through [[Get]]
      // like JSON.stringify does.
      const rawLen = v.length;
      const len = typeof rawLen === 'number' && rawLen > 0 ? rawLen - (rawLen % 1) : 0;
      emit('[');
      for (let i = 0; i < len; i++) {
        if (i !== 0) emit(',');
        write(v[i], depth + 1);
      }
      emit(']');
    } else {
      const keys = I.ReflectOwnKeys(v);
      const n = keys.length; // own `length` of the fresh array from ownKeys
      let first = true;
      emit('{');
      for (let i = 0; i < n; i++) {
        const k = keys[i];
        if (typeof k !== 'string') continue;
        const desc = I.ObjectGetOwnPropertyDescriptor(v, k);
        if (desc === undefined || !desc.enumerable) continue;
        emit((first ? '' : ',') + quote(k) + ':');
        first = false;
        write(v[k], depth + 1);
      }
      emit('}');
    }
    leave(v);
  }

  write(value, 0);
  return out;
}

module.exports = { serialize, isInternalError, tooLarge, MAX_DEPTH };
