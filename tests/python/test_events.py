"""Events from Python: emit, subscribe with a callback, the async iterator, a refused
subscription. Real sockets, peers in this process."""

import asyncio
import os
import threading

import pytest

from procslink import RemoteError, RPCPeer


def wait_for(condition, seconds=20.0):
    done = threading.Event()
    for _ in range(int(seconds * 200)):
        if condition():
            return True
        done.wait(0.005)
    return condition()


def test_subscribe_emit_and_cancel(serve, client):
    with serve() as publisher:
        received = []
        subscription = client.talk_to(publisher.nl_pid).subscribe("tick", received.append)
        assert subscription.active and subscription.event == "tick"
        assert publisher.subscription_count == 1
        assert publisher.emit("tick", 1, "one") == 1
        assert publisher.emit("tick", n=2) == 1
        assert wait_for(lambda: len(received) == 2)
        assert received == [[1, "one"], {"n": 2}]
        assert subscription.missed == 0
        subscription.cancel()
        assert wait_for(lambda: publisher.subscription_count == 0)
        assert publisher.emit("tick", 3) == 0


def test_a_declared_events_policy_refuses_with_access_denied(serve, client):
    with serve() as publisher:
        publisher.declare_event("secret", allow_uids=[os.getuid() + 1])
        with pytest.raises(RemoteError) as refused:
            client.talk_to(publisher.nl_pid).subscribe("secret", print)
        assert refused.value.code == -32001
        discovered = client.talk_to(publisher.nl_pid).call("rpc.discover")
        assert discovered["x-events"] == [{"name": "secret", "x-restricted": True}]


def test_events_as_an_async_iterator(serve, client):
    with serve() as publisher:
        async def take_three():
            got = []
            async for params in client.talk_to(publisher.nl_pid).events("tick"):
                got.append(params)
                if len(got) == 3:
                    break
            return got

        async def main():
            task = asyncio.ensure_future(take_three())
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: wait_for(lambda: publisher.subscription_count == 1))
            for i in range(3):
                assert publisher.emit("tick", i) == 1
            return await task

        assert asyncio.run(main()) == [[0], [1], [2]]
        assert wait_for(lambda: publisher.subscription_count == 0)
