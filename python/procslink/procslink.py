"""procslink.procslink - the procslink header (struct procslinkhdr) and message, big-endian."""

import struct

from ._message import LayeredMessage, Message


class ProcslinkMessageHeader(Message):
    """version, flag, length (of the payload), payload_type, reserved, seq, timestamp."""

    FORMAT = ">HHIHHIQ"
    SIZE = 24

    PAYLOAD_TYPE_UNKNOWN = 0
    PAYLOAD_TYPE_JSONRPC2_REQUEST = 1
    PAYLOAD_TYPE_JSONRPC2_RESPONSE = 2

    def __init__(self, version=1, flag=0, length=-1, payload_type=0, reserved=0, seq=0,
                 timestamp=0):
        self.version = version
        self.flag = flag
        self.seq = seq
        self.length = length
        self.payload_type = payload_type
        self.reserved = reserved
        self.timestamp = timestamp

    def struct_size(self):
        return self.SIZE

    def struct_format(self):
        return self.FORMAT

    def to_bytes(self):
        return struct.pack(self.FORMAT, self.version, self.flag, self.length, self.payload_type,
                           self.reserved, self.seq, self.timestamp)

    @classmethod
    def from_bytes(cls, data):
        if len(data) != cls.SIZE:
            raise ValueError("ProcslinkMessageHeader length does not match")
        return cls(*struct.unpack(cls.FORMAT, data))


class ProcslinkMessage(LayeredMessage):
    """A procslink header and its payload (the JSON-RPC bytes)."""

    HEADER = ProcslinkMessageHeader
    LENGTH_FIELD = "length"
    TOO_SHORT = "ProcslinkMessage message is too short"
    MISMATCH = "length field in header doesn't match actual message length"
