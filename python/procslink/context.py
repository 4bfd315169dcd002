"""procslink.context - CallContext: what a handler may know about the call it serves.

A handler receives it through a parameter annotated with CallContext (any name):

    def whoami(ctx: CallContext):
        return ctx.uid
"""

from typing import NamedTuple


class CallContext(NamedTuple):
    """The caller as the kernel reported it, and where the call came in."""

    sender_nl_pid: int
    pid: int
    uid: int
    gid: int
    netns: str  # the namespace the call came in through; "" = the peer's own
    method: str
