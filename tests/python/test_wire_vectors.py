"""The golden datagrams decode and re-encode byte for byte through the message classes."""

import json

import pytest

from conftest import WIRE_VECTORS
from procslink import (JSONRPCRequest, JSONRPCResponse, NetlinkMessage, ProcslinkMessage,
                       ProcslinkMessageHeader)
from procslink import jsonrpc, netlink, procslink as procslink_module

VECTORS = json.loads(WIRE_VECTORS.read_text())["vectors"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_round_trips(vector):
    data = bytes.fromhex(vector["datagram_hex"])
    nl = NetlinkMessage.from_bytes(data)
    assert nl.header.nlmsg_pid == vector["sender_nl_pid"]
    pl = ProcslinkMessage.from_bytes(nl.payload)
    assert pl.header.payload_type == vector["payload_type"]
    assert pl.payload == vector["json_body"].encode()
    kind = JSONRPCRequest if pl.header.payload_type == \
        ProcslinkMessageHeader.PAYLOAD_TYPE_JSONRPC2_REQUEST else JSONRPCResponse
    body = kind.from_bytes(pl.payload)
    rebuilt = NetlinkMessage(type(nl.header)(nlmsg_pid=nl.header.nlmsg_pid),
                             ProcslinkMessage(ProcslinkMessageHeader(
                                 payload_type=pl.header.payload_type), body.to_bytes()).to_bytes())
    assert rebuilt.to_bytes() == data


def test_submodules_hold_the_classes():
    assert netlink.NetlinkMessageHeader.SIZE == 16
    assert procslink_module.ProcslinkMessageHeader.SIZE == 24
    assert jsonrpc.JSONRPCMethodNotFoundError().code == -32601
    assert jsonrpc.JSONRPCInvalidParamsError().code == -32602
    assert jsonrpc.JSONRPCInternalError(data="x").to_dict() == {
        "code": -32603, "message": "Internal error", "data": "x"}


@pytest.mark.parametrize("data", [b"", b"\x00" * 15, b"\x00\x00\x00\x05" + b"\x00" * 12])
def test_malformed_netlink_bytes_raise_value_error(data):
    with pytest.raises(ValueError):
        NetlinkMessage.from_bytes(data)


def test_parse_error_and_invalid_request():
    with pytest.raises(jsonrpc.JSONRPCParseError):
        JSONRPCRequest.from_bytes(b"{nope")
    with pytest.raises(jsonrpc.JSONRPCInvalidRequestError):
        JSONRPCRequest.from_bytes(b'{"jsonrpc": "1.0", "method": "x", "id": 1}')
