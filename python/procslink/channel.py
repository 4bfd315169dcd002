"""procslink.channel - Channel: calling one remote peer, as talk_to() returns it.

`channel.hello("x")` calls the remote method hello; so do `channel.call("hello", "x")` and
`channel.method("hello")("x")` (for remote methods named like the Channel's own attributes).
Beyond the reference: notify, call_async (a concurrent.futures.Future), acall and `channel.aio`
(asyncio awaitables that never block the event loop), batch; events: subscribe (a callback) and
events (an async iterator).
"""

import asyncio
import concurrent.futures

from . import _core
from .errors import RemoteError, TransportError

# How many remote methods a Channel keeps as attributes after their first use.
_KEPT_METHODS = 64


def _params(method, args, kwargs):
    if args and kwargs:
        raise ValueError(
            "RPC client: You can use index based parameter or name based parameter, but not both")
    if args:
        return list(args)
    return dict(kwargs) if kwargs else None


class Channel:
    """A handle for calling one remote peer (cheap; make as many as you like)."""

    def __init__(self, core_channel):
        self._core = core_channel

    @property
    def target(self):
        """The remote peer's nl_pid."""
        return self._core.target

    def call(self, method, *args, **kwargs):
        """Calls `method` and returns its result; raises RemoteError or TransportError."""
        return self._core.call(method, _params(method, args, kwargs))

    def notify(self, method, *args, **kwargs):
        """Sends a notification: no reply, no result."""
        self._core.notify(method, _params(method, args, kwargs))

    def call_async(self, method, *args, **kwargs):
        """Starts a call; returns a concurrent.futures.Future of its result."""
        future = concurrent.futures.Future()
        future.set_running_or_notify_cancel()

        def done(ok, value):
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

        self._core.call_async(method, _params(method, args, kwargs), done)
        return future

    async def acall(self, method, *args, **kwargs):
        """Calls without blocking the event loop: `await channel.acall("hello", "x")`."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()

        def settle(ok, value):
            if future.cancelled():
                return
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

        def done(ok, value):
            loop.call_soon_threadsafe(settle, ok, value)

        self._core.call_async(method, _params(method, args, kwargs), done)
        return await future

    @property
    def aio(self):
        """`await channel.aio.hello("x")`: the asyncio form of attribute calls."""
        return _AsyncMethods(self)

    def batch(self, calls):
        """Sends [(method, params), ...] as one batch; returns one result or exception object
        (RemoteError / TransportError, not raised) per call, in order."""
        requests = [(m, list(p) if isinstance(p, tuple) else p) for m, p in calls]
        return [value for _, value in self._core.call_batch(requests)]

    def subscribe(self, event, callback):
        """Subscribes to the remote peer's `event`: callback(params) runs for each one, on one of
        this peer's threads. Returns a Subscription: cancel() (or losing it) unsubscribes;
        .missed counts the events lost because this peer did not read fast enough."""
        return self._core.subscribe(event, callback)

    async def events(self, event):
        """The params of each `event` as it comes: `async for params in channel.events("tick")`.
        Subscribes when iteration starts and unsubscribes when it ends."""
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue()

        def arrived(params):
            loop.call_soon_threadsafe(queue.put_nowait, params)

        subscription = await loop.run_in_executor(None, self._core.subscribe, event, arrived)
        try:
            while True:
                yield await queue.get()
        finally:
            subscription.cancel()

    def method(self, name):
        """The remote method `name` as a callable (a _core.RemoteMethod: one C++ call per use)."""
        return _core.RemoteMethod(self._core, name)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        method = self.method(name)
        # Kept as an attribute, so the next `channel.name` is a plain attribute lookup.
        if len(self.__dict__) <= _KEPT_METHODS:
            self.__dict__[name] = method
        return method


class _AsyncMethods:
    def __init__(self, channel):
        self._channel = channel

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)

        def callee(*args, **kwargs):
            return self._channel.acall(name, *args, **kwargs)
        return callee


__all__ = ["Channel", "RemoteError", "TransportError"]
