#!/usr/bin/python3
"""The benchmark's echo for a Python procslink package: its server, or a client that times it.

    python_echo.py serve
        prints the server's nl_pid on a line, then serves `echo` forever
    python_echo.py call NL_PID WARMUP COUNT PAYLOAD
        calls `echo` with PAYLOAD WARMUP times untimed and COUNT times timed, and prints each
        timed round trip in microseconds, one a line

The package is whichever `procslink` comes first on sys.path: procslink_bench puts the directory
it is told about (PROCSLINK_PYREF, or another package dir) on PYTHONPATH. Any package with the
reference's API (RPCPeer, register_function, run_server_forever, talk_to(nl_pid).method(...))
runs unchanged; the reference was also published inside procszoo as procszoo.ipc.
"""
import sys
import time

try:
    from procslink import RPCPeer
except ImportError:
    from procszoo.ipc import RPCPeer


def echo(value):
    return value


def serve():
    peer = RPCPeer()
    peer.register_function(echo)
    sys.stdout.write("%d\n" % peer.nl_pid)
    sys.stdout.flush()
    peer.run_server_forever()


def call(nl_pid, warmup, count, payload):
    proxy = RPCPeer().talk_to(nl_pid)
    clock = time.perf_counter
    samples = []
    for i in range(warmup + count):
        start = clock()
        result = proxy.echo(payload)
        elapsed = clock() - start
        if result != payload:
            sys.exit("echo returned %r" % (result,))
        if i >= warmup:
            samples.append(elapsed)
    sys.stdout.write("".join("%.3f\n" % (s * 1e6) for s in samples))


def main(argv):
    if argv[1:2] == ["serve"] and len(argv) == 2:
        serve()
    elif argv[1:2] == ["call"] and len(argv) == 6:
        call(int(argv[2]), int(argv[3]), int(argv[4]), argv[5])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
