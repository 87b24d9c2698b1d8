'use strict';
// Host calls: the functions the caller serves (the job's `host.functions`), installed as
// globals (`fetch`) or members of a global object (`state.get`) that user code calls
// synchronously, as AVS's goja runtime exposes them. A call is a frame on the event channel
// (fd 4) carrying the job's nonce; the runner then blocks reading its job channel (fd 3)
// until the host writes the reply with the same id. The host holds every limit (calls per
// run, payload sizes, the time a reply may take); the runner also refuses arguments over
// the payload limit before sending them.
//
// Arguments go through the result serializer (the profile's conversions: under avs a Date
// is its RFC 3339 string); a reply's result object exactly {"$bigint": "<digits>"} becomes a
// BigInt; a reply with neither result nor error is undefined; an error reply throws an Error
// with the caller's message.

const I = require('./intrinsics');
const protocol = require('./protocol');
const { serialize } = require('./serialize');

const BIGINT_KEY = '$bigint';
const DIGITS = /^-?[0-9]+$/;

function reviveBigInts(key, value) {
  if (value !== null && typeof value === 'object' && !I.ArrayIsArray(value)) {
    const keys = I.ObjectKeys(value);
    if (keys.length === 1 && keys[0] === BIGINT_KEY && typeof value[BIGINT_KEY] === 'string' &&
        I.RegExpPrototypeExec(DIGITS, value[BIGINT_KEY]) !== null) {
      return I.BigInt(value[BIGINT_KEY]);
    }
  }
  return value;
}

// `job.host` checked: [{name, returns_promise}], or null when the caller serves none.
function functionsOf(job) {
  const host = job.host;
  if (host === null || typeof host !== 'object' || !I.ArrayIsArray(host.functions)) return null;
  const out = [];
  for (const f of host.functions) {
    if (f !== null && typeof f === 'object' && typeof f.name === 'string') {
      I.ArrayPrototypePush(out, { name: f.name, returnsPromise: f.returns_promise === true });
    }
  }
  const max = host.max_payload_bytes;
  return {
    functions: out,
    maxPayloadBytes: typeof max === 'number' && max > 0 ? max : 1 << 20,
  };
}

// A caller for one job: `nonce()` gives the job's nonce, `dateText` the profile's Date
// conversion, `gone()` ends the runner when the host closed the channel.
function makeCaller({ nonce, dateText, gone }, maxPayloadBytes) {
  let nextId = 0;
  return function call(name, args) {
    let argsJson;
    try {
      argsJson = serialize(args, maxPayloadBytes, dateText);
    } catch (e) {
      if (e !== null && typeof e === 'object' && e.name === 'ResultTooLarge') {
        throw new RangeError(`the arguments of ${name} exceed max_payload_bytes (${maxPayloadBytes} bytes of JSON)`);
      }
      throw new TypeError(`the arguments of ${name} cannot be sent to the host: ${e && e.message}`);
    }
    if (I.BufferByteLength(argsJson, 'utf8') > maxPayloadBytes) {
      throw new RangeError(`the arguments of ${name} exceed max_payload_bytes (${maxPayloadBytes} bytes of JSON)`);
    }
    nextId += 1;
    const id = nextId;
    protocol.writeFrame('{"type":"call","nonce":' + protocol.quote(nonce()) + ',"id":' + id +
      ',"name":' + protocol.quote(name) + ',"args":' + argsJson + '}');
    for (;;) {
      const text = protocol.readFrame(protocol.JOB_FD);
      if (text === null) return gone();
      let reply;
      try {
        reply = I.JSONParse(text, I.StringPrototypeIndexOf(text, '"$bigint"') === -1 ? undefined : reviveBigInts);
      } catch (_) {
        continue;
      }
      if (reply === null || typeof reply !== 'object' || reply.type !== 'reply' || reply.id !== id) continue;
      if (I.ObjectPrototypeHasOwnProperty(reply, 'error')) {
        throw new I.Error(typeof reply.error === 'string' ? reply.error : 'the host call failed');
      }
      return reply.result;
    }
  };
}

function define(target, name, value, enumerable = false) {
  I.ObjectDefineProperty(target, name, {
    __proto__: null, value, writable: true, configurable: true, enumerable,
  });
}

// Installs every declared function into `target` (globalThis, or a template's context),
// replacing what is there (under avs: the stubs that throw HostCallError).
function install(target, spec, call) {
  for (const { name, returnsPromise } of spec.functions) {
    const dot = I.StringPrototypeIndexOf(name, '.');
    const member = dot === -1 ? name : I.StringPrototypeSlice(name, dot + 1);
    const fn = {
      [member](...args) {
        if (!returnsPromise) return call(name, args);
        try {
          return I.PromiseResolve(call(name, args));
        } catch (e) {
          return I.PromiseReject(e);
        }
      },
    }[member];
    if (dot === -1) {
      define(target, name, fn);
      continue;
    }
    const object = I.StringPrototypeSlice(name, 0, dot);
    const d = I.ObjectGetOwnPropertyDescriptor(target, object);
    let holder = d !== undefined && d.value !== null && typeof d.value === 'object' ? d.value : undefined;
    if (holder === undefined) {
      holder = {};
      define(target, object, holder);
    }
    define(holder, member, fn, true);
  }
}

module.exports = { functionsOf, makeCaller, install, reviveBigInts };
