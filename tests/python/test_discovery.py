"""procslink.list_peers against real peers: a named C++ demo-server, a Python peer of this
package, and a reference 0.1.2 peer (listed without a name)."""
import os
import subprocess

import pytest

from conftest import CLI, need_cli, need_reference, reference_env, spawn_server
from procslink import RPCPeer, TransportError, list_peers

REFERENCE_SERVER = """
from procslink import RPCPeer
peer = RPCPeer()
print(peer.nl_pid)
peer.run_server_forever()
"""


def test_lists_cpp_python_and_reference_peers_with_their_names(serve):
    need_cli()
    need_reference()
    demo = subprocess.Popen([CLI, "demo-server", "--name", "py-discovery-test"],
                            stdout=subprocess.PIPE, text=True)
    reference, reference_pid = spawn_server(REFERENCE_SERVER, reference_env())
    try:
        demo_pid = int(demo.stdout.readline())
        with serve(name="py-discovery-own") as own:
            listed = list_peers(timeout=1.0)
            peers = {p.nl_pid: p for p in listed}
            assert peers[demo_pid].name == "py-discovery-test"
            assert peers[demo_pid].pid == demo.pid
            assert peers[demo_pid].process == "procslink"
            assert peers[demo_pid].uid == os.getuid()
            assert peers[own.nl_pid].name == "py-discovery-own"
            assert peers[own.nl_pid].pid == os.getpid()
            assert peers[reference_pid].name is None  # it answers -32601 to rpc.identity
            assert peers[reference_pid].answered
            # in nl_pid order (one listing: other processes' peers come and go meanwhile)
            assert [p.nl_pid for p in listed] == sorted(peers)
    finally:
        demo.terminate()
        reference.kill()
        demo.wait()
        reference.wait()


def test_all_also_lists_sockets_that_do_not_answer():
    with RPCPeer() as silent:  # not serving: its probe goes unanswered
        quiet = [p for p in list_peers(timeout=0.2, all=True) if p.nl_pid == silent.nl_pid]
        assert quiet and not quiet[0].answered
        assert silent.nl_pid not in [p.nl_pid for p in list_peers(timeout=0.2)]


def test_a_missing_namespace_is_a_transport_error():
    with pytest.raises(TransportError):
        list_peers(netns="/nonexistent/netns")
