# hello_client.py - the seed's JSON-RPC client: hello_client.py SERVER_NL_PID
import sys
from procslink import RPCPeer

server_nl_pid = int(sys.argv[1])
rpc_client = RPCPeer()
print(rpc_client.talk_to(server_nl_pid).hello("Rayson Zhu"))
