"""procslink._message - the base of the message classes (to_bytes / from_bytes, repr)."""


class Message:
    """A message part that converts to and from bytes."""

    def to_bytes(self):
        raise NotImplementedError()

    @classmethod
    def from_bytes(cls, data):
        raise NotImplementedError()

    def __repr__(self):
        return "<{0} {1}>".format(type(self).__name__, self.__dict__)


class LayeredMessage(Message):
    """A header and its payload; the header's length field counts the payload only.

    Subclasses name their HEADER class, its LENGTH_FIELD and the two error texts."""

    HEADER = None
    LENGTH_FIELD = ""
    TOO_SHORT = ""
    MISMATCH = ""

    def __init__(self, header, payload):
        if getattr(header, self.LENGTH_FIELD) < 0:
            setattr(header, self.LENGTH_FIELD, len(payload))
        self.header = header
        self.payload = payload

    def to_bytes(self):
        return self.header.to_bytes() + self.payload

    @classmethod
    def from_bytes(cls, data):
        size = cls.HEADER.SIZE
        if len(data) < size:
            raise ValueError(cls.TOO_SHORT)
        header = cls.HEADER.from_bytes(data[:size])
        payload = data[size:]
        if getattr(header, cls.LENGTH_FIELD) != len(payload):
            raise ValueError(cls.MISMATCH)
        return cls(header, payload)
