"""Who is there: the procslink peers of a network namespace, found without a broker (the
kernel's socket table, the holders' /proc entries, and an rpc.identity probe to each port), as
`procslink peers` lists them."""

import logging
from typing import List, NamedTuple, Optional

from . import _core

_log = logging.getLogger("procslink")


class PeerInfo(NamedTuple):
    """One NETLINK_USERSOCK socket of the namespace and what its probe found. pid, process and
    uid are None where this caller cannot see the holder; name is None for a peer without a
    service name (a reference 0.1.2 peer, say)."""
    nl_pid: int
    pid: Optional[int]
    process: Optional[str]
    uid: Optional[int]
    name: Optional[str]
    answered: bool


def list_peers(netns: Optional[str] = None, timeout: float = 0.3,
               all: bool = False) -> List[PeerInfo]:  # noqa: A002 - the CLI's --all
    """The peers of the namespace (the caller's, or the one at path `netns`), sorted by
    nl_pid. `timeout` bounds the probes in all, in seconds; `all` also lists the sockets that
    did not answer (answered False). What could not be seen is logged as a warning. Raises
    TransportError when the namespace cannot be entered."""
    peers, unseen = _core.list_peers(netns or "", timeout, all)
    for note in unseen:
        _log.warning("%s", note)
    return [PeerInfo(*p) for p in peers]
