"""The per-call fast paths: remote methods as C++ callables kept on the Channel, handlers spread
by the core, and the Python thread state a serving thread keeps between requests. Real sockets,
peers in this process."""

import threading

import pytest

from procslink import RemoteError, RPCPeer


def test_remote_method_is_kept_and_named(serve, client):
    with serve() as server:
        server.register_function(lambda value: value, "echo")
        channel = client.talk_to(server.nl_pid)
        first = channel.echo
        assert first is channel.echo  # kept as an attribute after the first use
        assert first.__name__ == "echo"
        assert channel.method("echo").__name__ == "echo"
        assert "echo" in repr(first)
        with pytest.raises(AttributeError):
            first.no_such_attribute
        assert first("x") == "x"
        # A kept method goes on working after the channel object itself is gone.
        del channel
        assert first([1, 2]) == [1, 2]


def test_remote_method_params_shapes(serve, client):
    with serve() as server:
        server.register_function(lambda *args, **kwargs: [list(args), kwargs], "shape")
        channel = client.talk_to(server.nl_pid)
        assert channel.shape() == [[], {}]
        assert channel.shape(1, "two", None) == [[1, "two", None], {}]
        assert channel.shape(a=1, b=[2]) == [[], {"a": 1, "b": [2]}]
        with pytest.raises(ValueError, match="not both"):
            channel.shape(1, a=2)
        with pytest.raises(TypeError):
            channel.shape(object())


def test_spread_handler_errors(serve, client):
    with serve() as server:
        server.register_function(lambda a, b: a - b, "subtract")
        server.register_function(lambda: object(), "unserializable")
        channel = client.talk_to(server.nl_pid)
        assert channel.subtract(b=2, a=5) == 3
        with pytest.raises(RemoteError) as e:
            channel.subtract(1)  # a missing argument is the handler's TypeError: -32603
        assert e.value.code == -32603 and "b" in e.value.data
        with pytest.raises(RemoteError) as e:
            channel.unserializable()
        assert e.value.code == -32603


def test_serving_thread_keeps_its_thread_state(serve, client):
    """threading.local data set by a handler is there again when the same serving thread runs
    the next request: the thread's Python state lives as long as the thread."""
    local = threading.local()

    def count():
        local.calls = getattr(local, "calls", 0) + 1
        return [threading.get_ident(), local.calls]

    with serve() as server:
        server.register_function(count)
        channel = client.talk_to(server.nl_pid)
        seen = {}
        for _ in range(100):  # more calls than the pool has threads: some thread serves twice
            ident, calls = channel.count()
            seen.setdefault(ident, []).append(calls)
        assert max(len(v) for v in seen.values()) > 1
        for calls in seen.values():
            assert calls == list(range(1, len(calls) + 1))


def test_peer_closes_with_kept_thread_states():
    """Serving threads that kept Python thread states end cleanly when the peer closes."""
    for _ in range(3):
        with RPCPeer(workers=2) as server, RPCPeer() as caller:
            server.register_function(lambda: threading.get_ident(), "ident")
            server.start()
            channel = caller.talk_to(server.nl_pid)
            assert isinstance(channel.ident(), int)
