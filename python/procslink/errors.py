"""procslink.errors - what a call can fail with.

RemoteError: the peer answered with a JSON-RPC error (code, message, data); it is a
JSONRPCError, so code written for procslink 0.1.2 that catches JSONRPCError still works.
TransportError: no usable answer; `kind` says why ("no_peer", "timeout", "malformed_reply",
"permission_denied", "address_in_use", "too_large", "wrong_peer", "other").
"""

from .jsonrpc import JSONRPCError


class ProcslinkError(Exception):
    """Base of the errors raised by procslink's own machinery."""


class RemoteError(JSONRPCError, ProcslinkError):
    """The remote peer answered the call with an error object."""


class TransportError(ProcslinkError):
    """The request could not be delivered, or no valid reply came in time."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __str__(self):
        return self.message
