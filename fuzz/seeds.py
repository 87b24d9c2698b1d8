#!/usr/bin/env python3
"""Writes the hand-made seeds of fuzz/corpus/<target>/ (named seed-*; what libFuzzer adds
is named by its SHA-1). Run again after changing a seed here; the files are kept in git."""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
NONCE = "0123456789abcdef0123456789abcdef"  # fuzz_targets/runner_frame.rs


def nested(levels):
    return "[" * levels + "1" + "]" * levels


HTTP = {
    "minimal": '{"code":"return 1"}',
    "full": json.dumps({
        "code": "return inputs.x",
        "inputs": {"x": [1, 2.5, -3e-7, {"y": None, "z": True}], "s": "\u00e9\n"},
        "limits": {"timeout_ms": 1000, "memory_mib": 64, "max_output_bytes": 1024,
                   "max_result_bytes": 1024, "max_processes": 8},
        "backend": "native",
    }),
    "empty-backend": '{"code":"1","backend":""}',
    "white-space-and-escapes":
        ' { "code" : "x" , "inputs" : { "a b" : "x \\" ] y" , "\\u00e9" : [ 1.5E3 , -0 , false ] } }\n',
    "inputs-depth-120": '{"code":"1","inputs":{"a":%s}}' % nested(119),
    "inputs-depth-121": '{"code":"1","inputs":{"a":%s}}' % nested(120),
    "inputs-not-an-object": '{"code":"1","inputs":[1]}',
    "inputs-null": '{"code":"1","inputs":null}',
    "unknown-field": '{"code":"1","usage":{}}',
    "limit-above-maximum": '{"code":"1","limits":{"timeout_ms":18446744073709551615}}',
    "duplicate-key": '{"code":"1","inputs":{"a":1,"a":2}}',
    # Accepted and then unreadable by serde_json until lone surrogates were refused (fuzz/).
    "inputs-lone-surrogate": '{"code":"1","inputs":{"s":"\\udddd\\u00e9"}}',
    "inputs-lone-high-surrogate": '{"code":"1","inputs":{"s":"\\uD83D\\n"}}',
    "inputs-surrogate-pair": '{"code":"1","inputs":{"s":"\\uD83D\\uDE00 \\\\udddd"}}',
}


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def string(num, s):
    return field(num, 2, s.encode() if isinstance(s, str) else s)


def value(v):
    """google.protobuf.Value of a Python value."""
    if v is None:
        return field(1, 0, varint(0))
    if isinstance(v, bool):
        return field(4, 0, varint(int(v)))
    if isinstance(v, (int, float)):
        return field(2, 1, struct.pack("<d", float(v)))
    if isinstance(v, str):
        return string(3, v)
    if isinstance(v, list):
        return field(6, 2, b"".join(field(1, 2, value(x)) for x in v))
    return field(5, 2, struct_(v))


def struct_(d):
    return b"".join(field(1, 2, string(1, k) + field(2, 2, value(v))) for k, v in d.items())


def request(code, inputs=None, limits=None, backend=""):
    out = string(1, code)
    if inputs is not None:
        out += field(2, 2, inputs if isinstance(inputs, bytes) else struct_(inputs))
    if limits is not None:
        out += field(3, 2, b"".join(field(i, 0, varint(n)) for i, n in limits))
    if backend:
        out += string(4, backend)
    return out


def deep_list(levels):
    v = 1
    for _ in range(levels):
        v = [v]
    return v


GRPC = {
    "minimal": request("return 1"),
    "full": request("return inputs.x",
                    {"x": [1, 2.5, -3e-7, {"y": None, "z": True}], "s": "\u00e9\n", "big": 2.0**60},
                    [(1, 1000), (2, 64), (3, 1024), (4, 1024), (5, 8)], "native"),
    "empty-inputs": request("1", {}),
    "inputs-nan": request("1", field(1, 2, string(1, "x") + field(2, 2, field(2, 1, struct.pack("<d", float("nan")))))),
    "inputs-deep-list": request("1", {"a": deep_list(40)}),
    "limit-above-maximum": request("1", limits=[(1, 2**64 - 1)]),
    "invalid-utf8-code": string(1, b"\xff\xfe"),
    "value-without-kind": request("1", field(1, 2, string(1, "x") + field(2, 2, b""))),
}


def frame(body):
    body = body.encode()
    return struct.pack(">I", len(body)) + body


LOG = '{"type":"log","level":"warn","message":"hi"}'
OK = '{"type":"result","status":"ok","nonce":"%s","result":{"a":[1,"x"]}}' % NONCE
FORGED = '{"type":"result","status":"ok","nonce":"forged","result":1}'
ERROR = ('{"type":"result","status":"error","nonce":"%s","error":{"name":"TypeError",'
         '"message":"m","stack":"s","line":1,"column":2}}' % NONCE)
CALL = '{"type":"call","nonce":"%s","id":1,"name":"state.get","args":["k",{"d":[1]}]}' % NONCE
RUNNER = {
    "ready": '{"type":"ready"}',
    "log": LOG,
    "result-ok": OK,
    "result-null": '{"type":"result","status":"ok","nonce":"n","result":null}',
    "result-error": ERROR,
    "result-depth-120": '{"type":"result","status":"ok","nonce":"n","result":%s}' % nested(120),
    "result-depth-121": '{"type":"result","status":"ok","nonce":"n","result":%s}' % nested(121),
    "wrong-fields": '{"type":"ready","nonce":"n"}',
    "stream-log-forged-real": frame(LOG) + frame(FORGED) + frame(OK),
    "stream-error": frame(LOG) + frame(ERROR),
    "stream-over-cap": frame(LOG) + frame(" " * 1100),
    "stream-cut": frame(OK)[:20],
    "call": CALL,
    "call-object-args": '{"type":"call","nonce":"n","id":1,"name":"f","args":{}}',
    "stream-log-call-result": frame(LOG) + frame(CALL) + frame(OK),
}


def write(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, "seed-" + name), "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)


write("http_request", HTTP)
write("grpc_request", GRPC)
write("runner_frame", RUNNER)
