"""procslink.jsonrpc - JSON-RPC 2.0 requests, responses and error objects.

The JSON text is what json.dumps writes with its default separators, keys in the order
procslink 0.1.2 writes them, so messages built here are byte for byte the reference's.
"""

import json

from ._message import Message

ENCODING = "utf-8"


class AbstractJSONRPCObject(Message):
    """Shared by requests and responses: the "jsonrpc" version and the id."""

    ENCODING = ENCODING

    def __init__(self, id):
        if id is not None and not isinstance(id, (str, int)):
            raise TypeError("id is not None, str, or int")
        self.jsonrpc = "2.0"
        self.id = id

    @classmethod
    def from_dict(cls, d):
        raise NotImplementedError()

    def to_dict(self):
        raise NotImplementedError()

    @classmethod
    def from_json(cls, jsonstr):
        if not isinstance(jsonstr, str):
            raise TypeError("jsonstr must be str")
        try:
            value = json.loads(jsonstr)
        except ValueError as e:
            raise JSONRPCParseError(internal_exception=e) from e
        if not isinstance(value, dict):
            raise JSONRPCInvalidRequestError()
        return cls.from_dict(value)

    def to_json(self):
        return json.dumps(self.to_dict())

    def to_bytes(self):
        return self.to_json().encode(ENCODING)

    @classmethod
    def from_bytes(cls, data):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("data must be bytes")
        return cls.from_json(bytes(data).decode(ENCODING))


class JSONRPCRequest(AbstractJSONRPCObject):
    """A call (or, with is_notification, a notification) of `method` with `params`."""

    def __init__(self, id, method, params=None, is_notification=False):
        if is_notification and id is not None:
            raise ValueError("id must be None for a notification")
        if not isinstance(method, str):
            raise TypeError("method must be str")
        if params is not None and not isinstance(params, (tuple, list, dict)):
            raise TypeError("params must be None, tuple, list, or dict")
        super().__init__(id)
        self.method = method
        self.params = params
        self._is_notification = is_notification

    @property
    def is_notification(self):
        return self._is_notification

    def to_dict(self):
        d = {"jsonrpc": self.jsonrpc, "method": self.method}
        if not self._is_notification:
            d["id"] = self.id
        if self.params:
            d["params"] = self.params
        return d

    @classmethod
    def from_dict(cls, d):
        if d.get("jsonrpc") != "2.0":
            raise JSONRPCInvalidRequestError()
        notification = "id" not in d
        try:
            return cls(None if notification else d["id"], d["method"], d.get("params"),
                       notification)
        except (KeyError, TypeError, ValueError) as e:
            raise JSONRPCInvalidRequestError(internal_exception=e) from e


class JSONRPCResponse(AbstractJSONRPCObject):
    """The answer to the request with the same id: a result or a JSONRPCError."""

    def __init__(self, id, result=None, error=None):
        if error is not None:
            if not isinstance(error, JSONRPCError):
                raise TypeError("error must be JSONRPCError")
            if result is not None:
                raise ValueError("result must be None when an error occurs")
        super().__init__(id)
        self.result = result
        self.error = error

    def to_dict(self):
        d = {"jsonrpc": self.jsonrpc, "id": self.id}
        if self.error:
            d["error"] = self.error.to_dict()
        else:
            d["result"] = self.result
        return d

    @classmethod
    def from_dict(cls, d):
        if d.get("jsonrpc") != "2.0":
            raise JSONRPCInvalidRequestError("jsonrpc field must be '2.0'")
        try:
            error = JSONRPCError.from_dict(d["error"]) if d.get("error") else None
            return cls(d["id"], d.get("result"), error)
        except (KeyError, TypeError, ValueError) as e:
            raise JSONRPCInvalidRequestError(internal_exception=e) from e


class JSONRPCError(Exception, AbstractJSONRPCObject):
    """A JSON-RPC error object, raisable: code, message and optional data."""

    def __init__(self, code, message, data=None, internal_exception=None):
        if not isinstance(code, int):
            raise TypeError("code must be int")
        if not isinstance(message, str):
            raise TypeError("message must be str")
        Exception.__init__(self, code, message, data)
        self.code = code
        self.message = message
        self.data = data
        self.internal_exception = internal_exception

    def __str__(self):
        text = "{0} ({1})".format(self.message, self.code)
        return text if self.data is None else "{0}: {1}".format(text, self.data)

    def __repr__(self):
        return "{0}(code={1!r}, message={2!r}, data={3!r})".format(
            type(self).__name__, self.code, self.message, self.data)

    def to_dict(self):
        d = {"code": self.code, "message": self.message}
        if self.data is not None:
            d["data"] = self.data
        return d

    @classmethod
    def from_dict(cls, d):
        try:
            return JSONRPCError(d["code"], d["message"], d.get("data"))
        except (KeyError, TypeError) as e:
            raise JSONRPCInvalidRequestError(internal_exception=e) from e


class JSONRPCParseError(JSONRPCError):
    def __init__(self, message="Parse error", internal_exception=None):
        super().__init__(-32700, message, None, internal_exception)


class JSONRPCInvalidRequestError(JSONRPCError):
    def __init__(self, message="Invalid Request", internal_exception=None):
        super().__init__(-32600, message, None, internal_exception)


class JSONRPCMethodNotFoundError(JSONRPCError):
    def __init__(self, message="Method not found"):
        super().__init__(-32601, message)


class JSONRPCInvalidParamsError(JSONRPCError):
    def __init__(self, message="Invalid params"):
        super().__init__(-32602, message)


class JSONRPCInternalError(JSONRPCError):
    def __init__(self, message="Internal error", data=None, internal_exception=None):
        super().__init__(-32603, message, data, internal_exception)


class JSONRPCServerError(JSONRPCError):
    def __init__(self, message="Server error", code=-32000):
        if code < -32099 or code > -32000:
            raise ValueError("code out of range: [-32099, -32000]")
        super().__init__(code, message)


class JSONRPCAppError(JSONRPCError):
    def __init__(self, message, code=-1):
        if code <= -32000:
            raise ValueError("code must be greater than -32000")
        super().__init__(code, message)
