#!/usr/bin/env python3
"""Writes the fuzz seed corpora (fuzz/seeds/<target>/) from valid procslink messages.

The six golden datagrams of the reference implementation (tests/wire-vectors.json) are the
core; around them: fragments, batches, notifications and the other shapes a peer sends.
Run it again after changing a target's input format; the files it writes are committed.
"""
import json
import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent
VECTORS = json.loads((HERE.parent / "tests" / "wire-vectors.json").read_text())["vectors"]

REQUEST, RESPONSE = 1, 2
FRAGMENT, LAST = 0x1, 0x2


def datagram(body, payload_type=REQUEST, pid=4242, seq=0, timestamp=0, flag=0, index=0):
    body = body.encode() if isinstance(body, str) else body
    procslink = struct.pack("!HHIHHIQ", 1, flag, len(body), payload_type, index, seq, timestamp)
    netlink = struct.pack("!IHHII", len(procslink) + len(body), 0, 0, seq, pid)
    return netlink + procslink + body


def fragments(body, payload_type=REQUEST, pid=4242, seq=9, size=8):
    body = body.encode()
    chunks = [body[i:i + size] for i in range(0, len(body), size)]
    return [datagram(c, payload_type, pid, seq, 1700000000000000000,
                     FRAGMENT | (LAST if i == len(chunks) - 1 else 0), i)
            for i, c in enumerate(chunks)]


def write(target, name, data):
    directory = HERE / "seeds" / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)


golden = {v["name"]: bytes.fromhex(v["datagram_hex"]) for v in VECTORS}
bodies = {v["name"]: v["json_body"] for v in VECTORS}
requests = [b for n, b in bodies.items() if n.endswith(("request", "notification"))]
responses = [b for n, b in bodies.items() if n.endswith("response")]

more_requests = {
    "batch": '[{"jsonrpc":"2.0","method":"sum","params":[1,2,4],"id":"1"},'
             '{"jsonrpc":"2.0","method":"notify_hello","params":[7]},'
             '{"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":"2"},'
             '{"foo":"boo"},1,'
             '{"jsonrpc":"2.0","method":"get_data","id":"9"}]',
    "invalid_batch": "[1,2,3]",
    "empty_batch": "[]",
    "null_id": '{"jsonrpc":"2.0","method":"echo","params":{"value":null},"id":null}',
    "string_id_nested": '{"jsonrpc":"2.0","method":"echo","params":[{"a":[1,2.5,"\\u00e9",true,'
                        '{"b":[]}]}],"id":"x-\\ud83d\\ude00"}',
    "parse_error": '{"jsonrpc":"2.0","method":"foobar,"params":"bar","baz]',
    "wrong_version": '{"jsonrpc":"1.0","method":"hello","id":3}',
    "no_params": '{"jsonrpc":"2.0","method":"rpc.discover","id":5}',
}
more_responses = {
    "batch": '[{"jsonrpc":"2.0","result":7,"id":"1"},{"jsonrpc":"2.0","result":19,"id":"2"},'
             '{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":null}]',
    "error_with_object_data": '{"jsonrpc":"2.0","id":"a","error":{"code":-32002,"message":'
                              '"Message too large","data":{"limit":268435456}}}',
    "null_result": '{"jsonrpc":"2.0","id":12,"result":null}',
    "float_id": '{"jsonrpc":"2.0","id":1.5,"result":[1,{"k":"v"}]}',
}

# netlink_message and procslink_message: whole datagrams.
frags = fragments('{"jsonrpc":"2.0","method":"echo","params":["fragmented"],"id":3}')
for target in ("netlink_message", "procslink_message"):
    for name, data in golden.items():
        write(target, "golden_" + name, data)
    write(target, "fragment_first", frags[0])
    write(target, "fragment_last", frags[-1])
    write(target, "with_seq_and_timestamp", datagram(bodies["hello_request"], seq=77,
                                                     timestamp=1700000000123456789))
    write(target, "empty_body", datagram(b""))

# jsonrpc_request and jsonrpc_response: bodies.
for i, body in enumerate(requests):
    write("jsonrpc_request", f"golden_{i}", body.encode())
for name, body in more_requests.items():
    write("jsonrpc_request", name, body.encode())
for i, body in enumerate(responses):
    write("jsonrpc_response", f"golden_{i}", body.encode())
for name, body in more_responses.items():
    write("jsonrpc_response", name, body.encode())

# fragment_reassembly: a program of steps (see fragment_reassembly.cpp):
#   op < 16: wait u8 ms; op < 24: expire; else add: sender u8, seq u8, shape u8 (index | 0x10
#   last | 0x20 response), length u16.
def add(sender, seq, index, last=False, response=False, length=40):
    shape = index | (0x10 if last else 0) | (0x20 if response else 0)
    return bytes([0xff, sender, seq, shape]) + struct.pack("!H", length)

wait = lambda ms: bytes([0, ms])
expire = bytes([16])
write("fragment_reassembly", "in_order", add(0, 1, 0) + add(0, 1, 1) + add(0, 1, 2, last=True))
write("fragment_reassembly", "out_of_order_with_duplicate",
      add(1, 2, 2, last=True) + add(1, 2, 0) + add(1, 2, 0) + add(1, 2, 1))
write("fragment_reassembly", "interleaved_senders",
      add(0, 3, 0) + add(1, 3, 0, response=True) + add(0, 3, 1, last=True)
      + add(1, 3, 1, last=True, response=True))
write("fragment_reassembly", "too_large_then_more",
      add(2, 4, 0, length=500) + add(2, 4, 1, length=500) + add(2, 4, 2, last=True))
write("fragment_reassembly", "expired_midway",
      add(0, 5, 0) + wait(60) + expire + add(0, 5, 1, last=True))
write("fragment_reassembly", "many_pending",
      b"".join(add(0, s, 0) for s in range(6)) + wait(30) + add(0, 6, 0))

# peer_datagram: records [control u8][length u16][datagram]; control 7 fixes nlmsg_pid and both
# lengths, 0 sends the bytes exactly as written (a spoofed nlmsg_pid, here 4242).
def record(data, control=7):
    return bytes([control]) + struct.pack("!H", len(data)) + data

for name, data in golden.items():
    write("peer_datagram", "golden_" + name, record(data))
for name, body in more_requests.items():
    write("peer_datagram", "request_" + name, record(datagram(body)))
write("peer_datagram", "spoofed_pid", record(golden["hello_request"], control=0))
write("peer_datagram", "fragmented_request", b"".join(record(f) for f in frags))
write("peer_datagram", "fragmented_out_of_order",
      b"".join(record(f) for f in reversed(frags)))
write("peer_datagram", "large_echo", record(datagram(
    '{"jsonrpc":"2.0","method":"echo","params":["' + "x" * 6000 + '"],"id":4}')))
write("peer_datagram", "handler_errors", record(datagram(
    '[{"jsonrpc":"2.0","method":"fail","params":[1],"id":1},'
    '{"jsonrpc":"2.0","method":"throw","id":2},{"jsonrpc":"2.0","method":"whoami","id":3},'
    '{"jsonrpc":"2.0","method":"subtract","params":{"minuend":1,"subtrahend":"x"},"id":4}]')))

# monitor_decoder: a capture as records [length u16][datagram] (see monitor_decoder.cpp).
def capture(*datagrams):
    return b"".join(struct.pack("!H", len(d)) + d for d in datagrams)

for name, data in golden.items():
    write("monitor_decoder", "golden_" + name, capture(data))
write("monitor_decoder", "fragmented_request", capture(*frags))
write("monitor_decoder", "batch_response", capture(datagram(more_responses["batch"].encode(),
                                                            payload_type=RESPONSE)))
write("monitor_decoder", "conversation", capture(golden["hello_request"], golden["hello_response"],
                                                 *frags, datagram(b"not json")))

# text_stream: prefix length u8, head (length u8, bytes), piece (length - 1 u8, bytes), extra
# length u16, tail (length u8, bytes), two long strings u8 & 1, slice u16, shape u8 (window
# size, and bit 0: a window at the start too), back u8 (where the window at the first slice's
# end starts; see text_stream.cpp).
def stream(prefix, head, piece, extra, tail, two, slice_units, shape, back):
    return (bytes([prefix, len(head)]) + head + bytes([len(piece) - 1]) + piece +
            struct.pack("!H", extra) + bytes([len(tail)]) + tail + bytes([two]) +
            struct.pack("!H", slice_units) + bytes([shape, back]))

write("text_stream", "clean", stream(3, b"short", b"abcdefghij", 100, b"", 0, 31734, 0, 0))
write("text_stream", "escapes", stream(0, b'q"\\', b'ab"cd\\ef\n\x01', 7, b"x", 1, 1000, 255, 1))
write("text_stream", "utf8", stream(5, "café".encode(), "€😀z".encode(), 4095,
                                    b"\xf0\x9f", 0, 65535, 40, 2))
write("text_stream", "ill_formed", stream(1, b"\xff", b"\xc3\x28\xed\xa0\x80\xe0\x80", 0, b"\xc3",
                                          1, 0, 17, 3))
