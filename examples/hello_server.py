# hello_server.py - the seed's (procslink 0.1.2's README) JSON-RPC server, verbatim, run by
# scripts/demo through the binding: PYTHONPATH=build/python /usr/bin/python3 hello_server.py
import os
from procslink import RPCPeer

class MyAPI(object):
    def hello(self, name):
        s = "Hello, %s!" % name
        print(s)
        return s

rpc_server = RPCPeer()
print("Server's nl_pid is %s." % rpc_server.nl_pid)
rpc_server.register_functions_in_object(MyAPI())
rpc_server.run_server_forever()
