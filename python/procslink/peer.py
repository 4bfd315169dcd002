"""procslink.peer - RPCPeer: register Python functions, serve them, call other peers.

The C++ core (procslink._core) owns the sockets and the serving threads; this file adapts it
to procslink 0.1.2's interface and Python's idioms (context manager, futures, asyncio, logging).
"""

import atexit
import inspect
import logging
import os
import socket as _socket
import weakref

from . import _core
from .channel import Channel
from .context import CallContext

LOGGER = logging.getLogger("procslink")
_LIVE_PEERS = weakref.WeakSet()


def _context_parameter(function):
    """The name of the parameter annotated with CallContext, or None."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    for name, parameter in signature.parameters.items():
        if parameter.annotation in (CallContext, "CallContext", "procslink.CallContext"):
            return name
    return None


def _adapter(function, context_name):
    """What the core calls for a function taking a CallContext: spreads the JSON params into its
    arguments and adds the context. (Functions without one the core spreads itself.)"""
    def invoke_with_context(params, context):
        extra = {context_name: CallContext(*context)}
        if type(params) is list:
            return function(*params, **extra)
        if type(params) is dict:
            return function(**params, **extra)
        return function(**extra)
    return invoke_with_context


class RPCPeer:
    """A procslink peer: one netlink socket (plus one per extra namespace) and serving threads.

    RPCPeer() binds at once. name: bind the service name's port id; netns: a namespace path for
    the main socket; extra_netns: also serve inside these; timeout: default call deadline in
    seconds; workers: serving threads kept ready (None: number of cores); allow_uids /
    allow_gids: who may call (empty: everybody).
    """

    def __init__(self, sock=None, dispatcher_cls=None, registered_functions=None, *, name=None,
                 nl_pid=0, netns=None, extra_netns=(), timeout=5.0, workers=None,
                 allow_uids=(), allow_gids=()):
        if sock is not None or dispatcher_cls is not None:
            raise TypeError("RPCPeer: sock and dispatcher_cls are not supported; the C++ core "
                            "owns its socket and dispatches itself (see docs/python.md)")
        self._core = _core.Peer(nl_pid, name or "", netns or "", list(extra_netns),
                                workers or 0, float(timeout), set(allow_uids), set(allow_gids))
        self._functions = {}
        self._socket = None
        _LIVE_PEERS.add(self)
        LOGGER.debug("RPCPeer is ready, nl_pid = %s", self.nl_pid)
        for function_name, function in (registered_functions or {}).items():
            self.register_function(function, function_name)

    # --- the reference's interface ---
    @property
    def nl_pid(self):
        """This peer's port id (its address) in its own namespace."""
        return self._core.nl_pid

    @property
    def socket(self):
        """The main netlink socket, as a socket.socket on a duplicate of the peer's fd."""
        if self._socket is None:
            fd = os.dup(self._core.socket_fd)
            self._socket = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW,
                                          _socket.NETLINK_USERSOCK, fileno=fd)
        return self._socket

    def register_function(self, function, alternate_name=None):
        """Serves `function` as alternate_name or its __name__; a name is registered once."""
        if not callable(function):
            raise TypeError("RPCPeer.register_function: %r is not callable" % (function,))
        if alternate_name is not None and not isinstance(alternate_name, str):
            raise TypeError("RPCPeer.register_function: alternate_name %r is not str"
                            % (alternate_name,))
        name = function.__name__ if alternate_name is None else alternate_name
        if name in self._functions:
            raise ValueError("RPCPeer.register_function: function name %r has been registered"
                             % name)
        context_name = _context_parameter(function)
        if context_name is None:
            self._core.register_function(name, function)
        else:
            self._core.register(name, _adapter(function, context_name), True)
        self._functions[name] = function
        LOGGER.debug("registered RPC function %r -> %r", name, function)

    def register_functions_in_object(self, obj):
        """Registers every public bound method of `obj` (names not starting with '_')."""
        for member in dir(obj):
            if member.startswith("_"):
                continue
            value = getattr(obj, member)
            if inspect.ismethod(value):
                self.register_function(value)

    def run_server_forever(self):
        """Serves until stop() (from any thread) or Ctrl-C (KeyboardInterrupt)."""
        self._core.run_server_forever()

    def talk_to(self, target, timeout=None, require_uid=None, netns=None):
        """A Channel to `target`: an nl_pid, or a service name (checked with one round trip).
        timeout: this channel's deadline in seconds; require_uid: fail unless the answering
        process has this uid; netns: call through the socket in that extra namespace."""
        if isinstance(target, bool) or not isinstance(target, (int, str)):
            raise TypeError("target must be int or str")
        if isinstance(target, str):
            core = self._core.talk_to_name(target)
        else:
            core = self._core.talk_to(target, netns or "")
        if timeout is not None or require_uid is not None:
            core = core.with_options(None if timeout is None else float(timeout), require_uid)
        return Channel(core)

    # --- beyond the reference ---
    @property
    def name(self):
        return self._core.name

    def nl_pid_in(self, netns):
        """This peer's port id inside one of its extra namespaces."""
        return self._core.nl_pid_in(netns)

    def emit(self, event, *args, **kwargs):
        """Sends the notification `event` to every subscriber of it, without waiting for any;
        returns how many it was sent to."""
        if args and kwargs:
            raise ValueError("emit takes positional or named params, not both")
        params = list(args) if args else (dict(kwargs) if kwargs else None)
        return self._core.emit(event, params)

    def declare_event(self, event, allow_uids=None, allow_gids=None):
        """Declares an event this peer publishes (listed by rpc.discover); with allow_uids or
        allow_gids, only those may subscribe to it."""
        self._core.declare_event(event, None if allow_uids is None else set(allow_uids),
                                 None if allow_gids is None else set(allow_gids))

    @property
    def subscription_count(self):
        """Subscriptions to this peer's events."""
        return self._core.subscription_count()

    def unregister(self, name):
        self._core.unregister(name)
        self._functions.pop(name, None)

    def set_method_policy(self, method, allow_uids=(), allow_gids=()):
        """Restricts who may call one method (after the peer's own policy)."""
        self._core.set_method_policy(method, set(allow_uids), set(allow_gids))

    def start(self):
        """Serves on background threads; returns at once."""
        self._core.start()

    def stop(self):
        """Asks serving to end; safe from any thread."""
        self._core.stop()

    @property
    def serving(self):
        return self._core.serving

    def close(self):
        """Stops serving and closes the sockets; calls in flight fail."""
        core, self._core = self._core, None
        if core is not None:
            core.stop()
            if self._socket is not None:
                self._socket.close()
            del core

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


@atexit.register
def _close_live_peers():
    # Serving threads must not outlive the interpreter they run Python handlers in.
    for peer in list(_LIVE_PEERS):
        if peer._core is not None:
            peer.close()
