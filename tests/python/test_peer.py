"""RPCPeer through the C++ core: calls, errors, deadlines, overlap, large messages, names,
credentials, futures and asyncio. Real sockets, peers in this process."""

import asyncio
import os
import threading
import time

import pytest

from conftest import need_root
from procslink import (CallContext, JSONRPCError, JSONRPCAppError, RemoteError, RPCPeer,
                       TransportError)


class API:
    def hello(self, name):
        return "Hello, %s!" % name

    def echo(self, value):
        return value

    def subtract(self, minuend, subtrahend):
        return minuend - subtrahend

    def fail(self):
        raise RuntimeError("it broke")

    def app_error(self):
        raise JSONRPCAppError("no such thing", code=7)

    def who(self, context: CallContext):
        return {"uid": context.uid, "gid": context.gid, "pid": context.pid,
                "nl_pid": context.sender_nl_pid, "method": context.method}

    def _private(self):
        return "hidden"


def test_positional_named_and_both(serve, client):
    with serve() as server:
        server.register_functions_in_object(API())
        channel = client.talk_to(server.nl_pid)
        assert channel.hello("Rayson Zhu") == "Hello, Rayson Zhu!"
        assert channel.subtract(42, 23) == 19
        assert channel.subtract(subtrahend=23, minuend=42) == 19
        with pytest.raises(ValueError):
            channel.subtract(42, subtrahend=23)
        assert channel.echo({"a": [1, 2.5, None, True, "é"]}) == {"a": [1, 2.5, None, True, "é"]}


def test_errors_map_to_remote_error(serve, client):
    with serve() as server:
        server.register_functions_in_object(API())
        channel = client.talk_to(server.nl_pid)
        with pytest.raises(RemoteError) as e:
            channel.fail()
        assert (e.value.code, e.value.message, e.value.data) == (-32603, "Internal error",
                                                                 "it broke")
        with pytest.raises(JSONRPCError) as e:
            channel.app_error()
        assert (e.value.code, e.value.message) == (7, "no such thing")
        with pytest.raises(RemoteError) as e:
            channel._private()
        assert e.value.code == -32601
        with pytest.raises(RemoteError) as e:
            channel.hello()
        assert e.value.code == -32603  # a TypeError in the handler, as in the reference


def test_transport_errors_have_a_kind(client):
    with RPCPeer() as gone:
        nl_pid = gone.nl_pid
    with pytest.raises(TransportError) as e:
        client.talk_to(nl_pid).hello("x")
    assert e.value.kind == "no_peer"
    with pytest.raises(TypeError):
        client.talk_to(1.5)


def test_deadline_per_channel(serve, client):
    release = threading.Event()

    def stall():
        release.wait(30)
        return "late"

    with serve() as server:
        server.register_function(stall)
        with pytest.raises(TransportError) as e:
            client.talk_to(server.nl_pid, timeout=0.2).stall()
        assert e.value.kind == "timeout"
        release.set()


def test_handlers_overlap_in_time(serve):
    spans = []
    lock = threading.Lock()
    both_started = threading.Barrier(2, timeout=20)

    def slow(tag):
        start = time.monotonic()
        both_started.wait()   # only passes when the other call runs at the same time
        time.sleep(0.05)
        with lock:
            spans.append((start, time.monotonic()))
        return tag

    with serve(workers=2) as server:
        server.register_function(slow)
        with RPCPeer() as client:
            channel = client.talk_to(server.nl_pid)
            futures = [channel.call_async("slow", i) for i in range(2)]
            assert sorted(f.result(timeout=30) for f in futures) == [0, 1]
    (a_start, a_end), (b_start, b_end) = spans
    assert a_start < b_end and b_start < a_end


def test_echo_of_64_mib(serve, client):
    with serve() as server:
        server.register_function(lambda value: value, "echo")
        big = "x" * (64 << 20)
        assert client.talk_to(server.nl_pid, timeout=60).echo(big) == big


def test_service_names(serve, client):
    name = "pytest-%d" % os.getpid()
    with serve(name=name) as server:
        server.register_functions_in_object(API())
        assert server.name == name
        assert client.talk_to(name).hello("n") == "Hello, n!"
        with pytest.raises(TransportError) as e:
            RPCPeer(name=name)
        assert e.value.kind == "address_in_use"


def test_credentials_reach_handlers(serve, client):
    with serve() as server:
        server.register_functions_in_object(API())
        who = client.talk_to(server.nl_pid).who()
    assert who == {"uid": os.getuid(), "gid": os.getgid(), "pid": os.getpid(),
                   "nl_pid": client.nl_pid, "method": "who"}


def test_uid_policies(serve, client):
    with serve(allow_uids=[os.getuid() + 1]) as server:
        server.register_functions_in_object(API())
        with pytest.raises(RemoteError):
            client.talk_to(server.nl_pid).hello("x")
    with serve() as server:
        server.register_functions_in_object(API())
        assert client.talk_to(server.nl_pid, require_uid=os.getuid()).hello("y") == "Hello, y!"
        with pytest.raises(TransportError) as e:
            client.talk_to(server.nl_pid, require_uid=os.getuid() + 1).hello("y")
        assert e.value.kind == "wrong_peer"


def test_calling_as_another_uid_is_refused(serve):
    need_root()
    with serve(allow_uids=[0]) as server:
        server.register_functions_in_object(API())
        import subprocess
        from conftest import PYTHON, binding_env
        script = ("import os; os.setgid(65534); os.setuid(65534)\n"
                  "from procslink import RPCPeer, RemoteError\n"
                  "try: RPCPeer().talk_to(%d).hello('x')\n"
                  "except RemoteError as e: print(e.code)\n" % server.nl_pid)
        out = subprocess.run([PYTHON, "-c", script], env=binding_env(), capture_output=True,
                             text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() != ""


def test_method_tables_are_per_peer():
    with RPCPeer() as a, RPCPeer() as b:
        a.register_function(lambda: 1, "one")
        b.register_function(lambda: 2, "one")   # the reference raised: one shared table
        with pytest.raises(ValueError):
            a.register_function(lambda: 3, "one")


def test_notifications_batches_futures_and_asyncio(serve, client):
    seen = threading.Event()
    with serve() as server:
        server.register_functions_in_object(API())
        server.register_function(lambda: seen.set(), "ping")
        channel = client.talk_to(server.nl_pid)
        channel.notify("ping")
        assert seen.wait(30)
        results = channel.batch([("hello", ["a"]), ("subtract", {"minuend": 3, "subtrahend": 1}),
                                 ("nope", None)])
        assert results[:2] == ["Hello, a!", 2]
        assert isinstance(results[2], RemoteError) and results[2].code == -32601
        futures = [channel.call_async("echo", i) for i in range(50)]
        assert [f.result(timeout=30) for f in futures] == list(range(50))

        async def main():
            ticks = 0

            async def tick():
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0)
            ticker = asyncio.ensure_future(tick())
            got = await asyncio.gather(channel.aio.hello("x"), channel.acall("echo", 5))
            ticker.cancel()
            return got, ticks
        got, ticks = asyncio.run(main())
        assert got == ["Hello, x!", 5] and ticks > 0
        with pytest.raises(RemoteError):
            asyncio.run(channel.aio.nope())


def test_stop_from_another_thread_and_socket_property():
    peer = RPCPeer()
    threading.Timer(0.1, peer.stop).start()
    peer.run_server_forever()
    assert peer.socket.getsockname()[0] == peer.nl_pid
    peer.close()
