'use strict';
// Built-ins captured when the runner loads, i.e. before any user code runs.
// Everything the runner touches *after* user code has started must come from
// here (or be a primitive operation), so that user code patching prototypes,
// globals or `JSON` cannot change what the runner does.

const util = require('util');
const fs = require('fs');

// uncurryThis(Array.prototype.slice)(arr, 1) === original slice called on arr.
// The result is a bound function of the original Function.prototype.call, so
// no property lookups happen when it is invoked.
const uncurryThis = Function.prototype.bind.bind(Function.prototype.call);

const getter = (proto, name) =>
  uncurryThis(Object.getOwnPropertyDescriptor(proto, name).get);

const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype);
const types = util.types;

// What only exists once the process runs, not while the runner's startup
// snapshot is built (no stack traces, no SharedArrayBuffer or Atomics then):
// captureRuntime() fills it in, first thing in main.start(), before user code.
//  - CallSite methods (used by the structured stack-trace hook), from a real
//    CallSite obtained through a temporary Error.prepareStackTrace;
//  - the cell that sleepMs() waits on.
const CallSite = { __proto__: null };
let sleepCell = null;
let AtomicsWait = null;

function captureRuntime() {
  if (sleepCell !== null) return;
  const saved = Object.getOwnPropertyDescriptor(Error, 'prepareStackTrace');
  let sites;
  Object.defineProperty(Error, 'prepareStackTrace', {
    value: (_e, s) => s, writable: true, configurable: true, enumerable: false,
  });
  try {
    const e = {};
    Error.captureStackTrace(e);
    sites = e.stack;
  } finally {
    if (saved) Object.defineProperty(Error, 'prepareStackTrace', saved);
    else delete Error.prepareStackTrace;
  }
  const proto = Object.getPrototypeOf(sites[0]);
  CallSite.getFileName = uncurryThis(proto.getFileName);
  CallSite.getLineNumber = uncurryThis(proto.getLineNumber);
  CallSite.getColumnNumber = uncurryThis(proto.getColumnNumber);
  CallSite.toString = uncurryThis(proto.toString);
  Object.freeze(CallSite);
  sleepCell = new Int32Array(new SharedArrayBuffer(4));
  AtomicsWait = Atomics.wait;
}

const textEncoder = new util.TextEncoder();
const TextEncoderEncode = uncurryThis(util.TextEncoder.prototype.encode);

module.exports = Object.freeze({
  uncurryThis,
  globalThis,
  ObjectDefineProperty: Object.defineProperty,
  ObjectGetOwnPropertyDescriptor: Object.getOwnPropertyDescriptor,
  ObjectKeys: Object.keys,
  ObjectGetPrototypeOf: Object.getPrototypeOf,
  ObjectPrototypeHasOwnProperty: uncurryThis(Object.prototype.hasOwnProperty),
  ReflectApply: Reflect.apply,
  ReflectOwnKeys: Reflect.ownKeys,
  ArrayIsArray: Array.isArray,
  ArrayPrototypePush: uncurryThis(Array.prototype.push),
  DateNow: Date.now,
  String: String,
  StringPrototypeCharCodeAt: uncurryThis(String.prototype.charCodeAt),
  StringPrototypeSlice: uncurryThis(String.prototype.slice),
  StringPrototypeIndexOf: uncurryThis(String.prototype.indexOf),
  StringPrototypeLastIndexOf: uncurryThis(String.prototype.lastIndexOf),
  StringPrototypeValueOf: uncurryThis(String.prototype.valueOf),
  NumberPrototypeValueOf: uncurryThis(Number.prototype.valueOf),
  BooleanPrototypeValueOf: uncurryThis(Boolean.prototype.valueOf),
  BigIntPrototypeValueOf: uncurryThis(BigInt.prototype.valueOf),
  SymbolPrototypeToString: uncurryThis(Symbol.prototype.toString),
  RegExpPrototypeExec: uncurryThis(RegExp.prototype.exec),
  Map: Map,
  MapPrototypeGet: uncurryThis(Map.prototype.get),
  MapPrototypeSet: uncurryThis(Map.prototype.set),
  MapPrototypeHas: uncurryThis(Map.prototype.has),
  MapPrototypeForEach: uncurryThis(Map.prototype.forEach),
  Set: Set,
  SetPrototypeAdd: uncurryThis(Set.prototype.add),
  SetPrototypeHas: uncurryThis(Set.prototype.has),
  SetPrototypeDelete: uncurryThis(Set.prototype.delete),
  SetPrototypeForEach: uncurryThis(Set.prototype.forEach),
  WeakSet: WeakSet,
  WeakSetPrototypeAdd: uncurryThis(WeakSet.prototype.add),
  WeakSetPrototypeHas: uncurryThis(WeakSet.prototype.has),
  DatePrototypeGetTime: uncurryThis(Date.prototype.getTime),
  DatePrototypeToISOString: uncurryThis(Date.prototype.toISOString),
  Uint8Array: Uint8Array,
  TypedArrayPrototypeGetLength: getter(TypedArrayPrototype, 'length'),
  TypedArrayPrototypeSet: uncurryThis(TypedArrayPrototype.set),
  DataViewPrototypeGetBuffer: getter(DataView.prototype, 'buffer'),
  DataViewPrototypeGetByteOffset: getter(DataView.prototype, 'byteOffset'),
  DataViewPrototypeGetByteLength: getter(DataView.prototype, 'byteLength'),
  Error: Error,
  ErrorPrototype: Error.prototype,
  ErrorCaptureStackTrace: Error.captureStackTrace,
  Promise: Promise,
  PromiseResolve: Promise.resolve.bind(Promise),
  PromiseReject: Promise.reject.bind(Promise),
  JSONParse: JSON.parse,
  BigInt: BigInt,
  CallSite,
  captureRuntime,
  isNativeError: types.isNativeError,
  isDate: types.isDate,
  isPromise: types.isPromise,
  isMap: types.isMap,
  isSet: types.isSet,
  isTypedArray: types.isTypedArray,
  isDataView: types.isDataView,
  isArrayBuffer: types.isArrayBuffer,
  isSharedArrayBuffer: types.isSharedArrayBuffer,
  isNumberObject: types.isNumberObject,
  isStringObject: types.isStringObject,
  isBooleanObject: types.isBooleanObject,
  isBigIntObject: types.isBigIntObject,
  isSymbolObject: types.isSymbolObject,
  utilFormat: util.format,
  BufferByteLength: require('buffer').Buffer.byteLength,
  encodeUtf8: (s) => TextEncoderEncode(textEncoder, s),
  fsReadSync: fs.readSync,
  fsWriteSync: fs.writeSync,
  sleepMs: (ms) => { AtomicsWait(sleepCell, 0, 0, ms); },
});
