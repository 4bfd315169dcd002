"""procslink.netlink - the netlink header and message as procslink 0.1.2 lays them out.

Both fields are big-endian and nlmsg_len counts only the payload, as the reference sends them
(see PROTOCOL.md); the C++ core reads and writes the same bytes.
"""

import struct

from ._message import LayeredMessage, Message


class NetlinkMessageHeader(Message):
    """struct nlmsghdr: nlmsg_len, nlmsg_type, nlmsg_flags, nlmsg_seq, nlmsg_pid."""

    FORMAT = ">IHHII"
    SIZE = 16
    MESSAGE_SIZE_LIMIT = 4096

    def __init__(self, nlmsg_len=-1, nlmsg_type=0, nlmsg_flags=0, nlmsg_seq=0, nlmsg_pid=0):
        self.nlmsg_len = nlmsg_len
        self.nlmsg_type = nlmsg_type
        self.nlmsg_flags = nlmsg_flags
        self.nlmsg_seq = nlmsg_seq
        self.nlmsg_pid = nlmsg_pid

    def struct_size(self):
        return self.SIZE

    def struct_format(self):
        return self.FORMAT

    def to_bytes(self):
        return struct.pack(self.FORMAT, self.nlmsg_len, self.nlmsg_type, self.nlmsg_flags,
                           self.nlmsg_seq, self.nlmsg_pid)

    @classmethod
    def from_bytes(cls, data):
        if len(data) != cls.SIZE:
            raise ValueError("Netlink header does not match")
        header = cls(*struct.unpack(cls.FORMAT, data))
        if header.nlmsg_len > cls.MESSAGE_SIZE_LIMIT:
            raise ValueError("invalid nlmsg_len")
        return header


class NetlinkMessage(LayeredMessage):
    """A netlink header and its payload (bytes)."""

    HEADER = NetlinkMessageHeader
    LENGTH_FIELD = "nlmsg_len"
    TOO_SHORT = "Netlink message is too short"
    MISMATCH = "nlmsg_len field in header doesn't match actual message length"
