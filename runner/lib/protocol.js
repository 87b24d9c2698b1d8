'use strict';
// Framing on the raw job/event file descriptors.
// Frame = 4-byte big-endian unsigned length N, then N bytes of UTF-8 JSON.
// All I/O is synchronous (fs.readSync / fs.writeSync), EAGAIN is retried.

const I = require('./intrinsics');

const JOB_FD = 3;
const EVENT_FD = 4;

// Exit codes used when the channel itself is unusable.
const EXIT_BAD_JOB = 70; // EOF / garbage before a complete job frame
const EXIT_CHANNEL = 71; // the event channel cannot be written

function errorCode(e) {
  try {
    if (e !== null && typeof e === 'object') {
      const d = I.ObjectGetOwnPropertyDescriptor(e, 'code');
      if (d && typeof d.value === 'string') return d.value;
    }
  } catch (_) { /* ignore */ }
  return undefined;
}

// Read exactly `len` bytes into a fresh buffer. Returns null on EOF.
function readExact(fd, len) {
  const buf = new I.Uint8Array(len);
  let off = 0;
  while (off < len) {
    let n;
    try {
      n = I.fsReadSync(fd, buf, off, len - off, null);
    } catch (e) {
      const code = errorCode(e);
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR') {
        I.sleepMs(1);
        continue;
      }
      return null;
    }
    if (n === 0) return null; // EOF
    off += n;
  }
  return buf;
}

// Blocks until one complete frame has arrived on fd 3; returns its text, or
// null if the channel reached EOF (or failed) first.
function readFrame(fd = JOB_FD) {
  const header = readExact(fd, 4);
  if (header === null) return null;
  const len = ((header[0] << 24) >>> 0) + (header[1] << 16) + (header[2] << 8) + header[3];
  if (len === 0) return '';
  const body = readExact(fd, len);
  if (body === null) return null;
  return require('buffer').Buffer.from(body.buffer, 0, len).toString('utf8');
}

function writeAll(fd, u8, len) {
  let off = 0;
  while (off < len) {
    let n;
    try {
      n = I.fsWriteSync(fd, u8, off, len - off, null);
    } catch (e) {
      const code = errorCode(e);
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR') {
        I.sleepMs(1);
        continue;
      }
      throw e;
    }
    off += n;
  }
}

// `json` must be a complete, well-formed JSON text containing no lone
// surrogates (everything the runner builds goes through quote()).
function writeFrame(json, fd = EVENT_FD) {
  const body = I.encodeUtf8(json);
  const n = I.TypedArrayPrototypeGetLength(body);
  const frame = new I.Uint8Array(n + 4);
  frame[0] = (n >>> 24) & 0xff;
  frame[1] = (n >>> 16) & 0xff;
  frame[2] = (n >>> 8) & 0xff;
  frame[3] = n & 0xff;
  I.TypedArrayPrototypeSet(frame, body, 4);
  // fs.writeSync reads `buffer.byteLength` through the prototype chain; an
  // own data property keeps a user-patched %TypedArray%.prototype getter
  // from interfering.
  // (A null-prototype descriptor: Object.prototype may carry get/set.)
  I.ObjectDefineProperty(frame, 'byteLength', { __proto__: null, value: n + 4 });
  writeAll(fd, frame, n + 4);
}

// JSON string literal for `s`, escaped exactly like JSON.stringify does
// (including lone surrogates as \udXXX), without calling JSON.stringify.
const HEX = '0123456789abcdef';
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;
function quote(s) {
  if (I.RegExpPrototypeExec(NEEDS_ESCAPE, s) === null) return '"' + s + '"';
  let out = '"';
  let start = 0;
  const len = s.length;
  for (let i = 0; i < len; i++) {
    const c = I.StringPrototypeCharCodeAt(s, i);
    let esc;
    if (c < 0x20) {
      switch (c) {
        case 0x08: esc = '\\b'; break;
        case 0x09: esc = '\\t'; break;
        case 0x0a: esc = '\\n'; break;
        case 0x0c: esc = '\\f'; break;
        case 0x0d: esc = '\\r'; break;
        default: esc = '\\u00' + HEX[c >> 4] + HEX[c & 15];
      }
    } else if (c === 0x22) {
      esc = '\\"';
    } else if (c === 0x5c) {
      esc = '\\\\';
    } else if (c >= 0xd800 && c <= 0xdfff) {
      if (c <= 0xdbff && i + 1 < len) {
        const d = I.StringPrototypeCharCodeAt(s, i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) { i++; continue; } // valid pair
      }
      // A lone surrogate has no UTF-8 form: it becomes U+FFFD, as in any UTF-8 decoder.
      esc = '\\ufffd';
    } else {
      continue;
    }
    if (i > start) out += I.StringPrototypeSlice(s, start, i);
    out += esc;
    start = i + 1;
  }
  if (start < len) out += I.StringPrototypeSlice(s, start, len);
  return out + '"';
}

module.exports = {
  JOB_FD, EVENT_FD, EXIT_BAD_JOB, EXIT_CHANNEL, readFrame, writeFrame, quote,
};
