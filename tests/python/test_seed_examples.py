"""The seed's (procslink 0.1.2's README) examples, verbatim, through the binding."""

import signal
import subprocess

from conftest import PYTHON, REPO, binding_env, spawn_server

# The seed's server, verbatim, as examples/hello_server.py holds it (scripts/demo runs it too).
SEED_SERVER = (REPO / "examples" / "hello_server.py").read_text()

SEED_CLIENT = '''
from procslink import RPCPeer

# server_nl_pid is server's nl_pid
rpc_client = RPCPeer()
rpc_client.talk_to(server_nl_pid).hello("Rayson Zhu")
'''


def test_seed_server_and_client_verbatim():
    server, nl_pid = spawn_server(SEED_SERVER, binding_env())
    try:
        client = "server_nl_pid = %d\n%s\nprint(rpc_client.talk_to(server_nl_pid)" \
                 ".hello('Rayson Zhu'))\n" % (nl_pid, SEED_CLIENT)
        out = subprocess.run([PYTHON, "-c", client], env=binding_env(), capture_output=True,
                             text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "Hello, Rayson Zhu!"
    finally:
        server.send_signal(signal.SIGINT)
        stdout, stderr = server.communicate(timeout=30)
    assert "Hello, Rayson Zhu!" in stdout
    assert "KeyboardInterrupt" in stderr, (server.returncode, stderr)


def test_seed_message_building_example():
    from procslink import (JSONRPCResponse, NetlinkMessage, NetlinkMessageHeader,
                           ProcslinkMessage, ProcslinkMessageHeader)
    sender_nl_pid = 4242
    jsonrpc_response = JSONRPCResponse(id=123, result=True)
    procslink_header = ProcslinkMessageHeader(
        payload_type=ProcslinkMessageHeader.PAYLOAD_TYPE_JSONRPC2_RESPONSE)
    procslink_message = ProcslinkMessage(procslink_header,
                                         jsonrpc_response.to_bytes())
    netlink_header = NetlinkMessageHeader(nlmsg_pid=sender_nl_pid)
    netlink_message = NetlinkMessage(netlink_header,
                                     procslink_message.to_bytes())
    data = netlink_message.to_bytes()
    body = b'{"jsonrpc": "2.0", "id": 123, "result": true}'
    expected = ((24 + len(body)).to_bytes(4, "big") + bytes(8) + (4242).to_bytes(4, "big")
                + (1).to_bytes(2, "big") + bytes(2) + len(body).to_bytes(4, "big")
                + (2).to_bytes(2, "big") + bytes(14) + body)
    assert data == expected

    netlink_message = NetlinkMessage.from_bytes(data)
    procslink_message = ProcslinkMessage.from_bytes(netlink_message.payload)
    response = JSONRPCResponse.from_bytes(procslink_message.payload)
    assert (response.id, response.result, response.error) == (123, True, None)
