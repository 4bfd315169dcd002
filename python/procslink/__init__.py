"""procslink - JSON-RPC 2.0 between processes in different namespaces, over netlink.

A drop-in replacement for procslink 0.1.2 served by procslink's C++ core:

    from procslink import RPCPeer
    server = RPCPeer()
    server.register_functions_in_object(MyAPI())
    server.run_server_forever()

    RPCPeer().talk_to(server_nl_pid).hello("Rayson Zhu")
"""

from .channel import Channel
from .context import CallContext
from .discovery import PeerInfo, list_peers
from .errors import ProcslinkError, RemoteError, TransportError
from .jsonrpc import (JSONRPCAppError, JSONRPCError, JSONRPCInternalError,
                      JSONRPCInvalidParamsError, JSONRPCInvalidRequestError,
                      JSONRPCMethodNotFoundError, JSONRPCParseError, JSONRPCRequest,
                      JSONRPCResponse, JSONRPCServerError)
from .netlink import NetlinkMessage, NetlinkMessageHeader
from .peer import RPCPeer
from .procslink import ProcslinkMessage, ProcslinkMessageHeader
from ._core import Subscription, port_id_for_name

__version__ = "0.2.0"

__all__ = [
    "RPCPeer", "Channel", "CallContext", "PeerInfo", "list_peers", "ProcslinkError", "RemoteError", "TransportError",
    "JSONRPCError", "JSONRPCParseError", "JSONRPCInvalidRequestError",
    "JSONRPCMethodNotFoundError", "JSONRPCInvalidParamsError", "JSONRPCInternalError",
    "JSONRPCServerError", "JSONRPCAppError", "JSONRPCRequest", "JSONRPCResponse",
    "NetlinkMessage", "NetlinkMessageHeader", "ProcslinkMessage", "ProcslinkMessageHeader",
    "port_id_for_name", "Subscription",
]
