"""Shared fixtures for the Python package's tests: a serving peer on a background thread,
paths of the C++ CLI and the reference package, and a runner for helper processes."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from procslink import RPCPeer

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
REFERENCE = Path(os.environ.get("PROCSLINK_REFERENCE",
                                REPO.parent / "shared" / "reference" / "procslink-0.1.2"))
WIRE_VECTORS = REPO / "tests" / "wire-vectors.json"
CLI = os.environ.get("PROCSLINK_CLI", "")
PYTHON = "/usr/bin/python3"


class Served:
    """A peer serving on a background thread until the test ends."""

    def __init__(self, **options):
        self.peer = RPCPeer(**options)
        self.thread = threading.Thread(target=self.peer.run_server_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self.peer

    def __exit__(self, *exc_info):
        self.peer.stop()
        self.thread.join()
        self.peer.close()


@pytest.fixture
def serve():
    return Served


@pytest.fixture
def client():
    with RPCPeer() as peer:
        yield peer


def binding_env():
    """The environment for a child process that imports this package (the build's)."""
    env = dict(os.environ)
    import procslink
    env["PYTHONPATH"] = str(Path(procslink.__file__).resolve().parent.parent)
    return env


def reference_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REFERENCE)
    return env


def default_sigint():
    """Lets a child see SIGINT even when this process was started with it ignored (a
    background job), so that its Python turns it into KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn_server(script, env):
    """Starts `script` (Python source printing its nl_pid first); returns (process, nl_pid)."""
    process = subprocess.Popen([PYTHON, "-u", "-c", script], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    line = process.stdout.readline()
    if not line:
        process.kill()
        raise AssertionError("server did not start: " + process.stderr.read())
    return process, int(line.split()[-1].rstrip("."))


def need_reference():
    if not (REFERENCE / "procslink" / "__init__.py").exists():
        pytest.skip("reference procslink 0.1.2 not found at %s" % REFERENCE)


def need_cli():
    if not CLI:
        pytest.skip("PROCSLINK_CLI not set (ctest sets it)")


def need_root():
    if os.geteuid() != 0:
        pytest.skip("needs root")


sys.path.insert(0, str(HERE))
