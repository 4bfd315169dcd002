"""Interop with procslink 0.1.2 (run as a separate process) and with the C++ CLI."""

import json
import signal
import subprocess

from conftest import (CLI, PYTHON, binding_env, need_cli, need_reference, reference_env,
                      spawn_server)

SERVER = '''
from procslink import RPCPeer
class MyAPI(object):
    def hello(self, name):
        return "Hello, %s!" % name
    def subtract(self, minuend, subtrahend):
        return minuend - subtrahend
rpc_server = RPCPeer()
print("Server's nl_pid is %s." % rpc_server.nl_pid)
rpc_server.register_functions_in_object(MyAPI())
rpc_server.run_server_forever()
'''

CLIENT = '''
import json, sys
from procslink import RPCPeer
channel = RPCPeer().talk_to(int(sys.argv[1]))
print(json.dumps([channel.hello("Rayson Zhu"), channel.subtract(minuend=42, subtrahend=23)]))
'''


def run_client(env, nl_pid):
    out = subprocess.run([PYTHON, "-c", CLIENT, str(nl_pid)], env=env, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def stop(server):
    server.send_signal(signal.SIGINT)
    try:
        server.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()   # the reference's loop swallows KeyboardInterrupt... sometimes
        server.communicate()


def test_reference_client_to_binding_server():
    need_reference()
    server, nl_pid = spawn_server(SERVER, binding_env())
    try:
        assert run_client(reference_env(), nl_pid) == ["Hello, Rayson Zhu!", 19]
    finally:
        stop(server)


def test_binding_client_to_reference_server():
    need_reference()
    server, nl_pid = spawn_server(SERVER, reference_env())
    try:
        assert run_client(binding_env(), nl_pid) == ["Hello, Rayson Zhu!", 19]
    finally:
        stop(server)


def test_cli_to_binding_server():
    need_cli()
    server, nl_pid = spawn_server(SERVER, binding_env())
    try:
        out = subprocess.run([CLI, "call", str(nl_pid), "hello", '["cli"]'], capture_output=True,
                             text=True, timeout=30)
        assert (out.returncode, out.stdout.strip()) == (0, '"Hello, cli!"')
        out = subprocess.run([CLI, "call", str(nl_pid), "nope"], capture_output=True,
                             text=True, timeout=30)
        assert out.returncode == 1
    finally:
        stop(server)


def test_binding_client_to_cli_server():
    need_cli()
    server = subprocess.Popen([CLI, "demo-server"], stdout=subprocess.PIPE, text=True)
    try:
        nl_pid = int(server.stdout.readline().split()[-1])
        script = ("import sys\nfrom procslink import RPCPeer\n"
                  "print(RPCPeer().talk_to(int(sys.argv[1])).subtract(42, 23))\n")
        out = subprocess.run([PYTHON, "-c", script, str(nl_pid)], env=binding_env(),
                             capture_output=True, text=True, timeout=30)
        assert (out.returncode, out.stdout.strip()) == (0, "19"), out.stderr
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)
