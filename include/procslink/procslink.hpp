// procslink.hpp - the one header a procslink user includes.
//
// JSON-RPC 2.0 between processes in different Linux namespaces, carried over
// NETLINK_USERSOCK datagrams and byte-compatible with procslink 0.1.2 for Python.
// Layers, bottom up: netlink message, procslink message, JSON-RPC model, transport, peer.
#pragma once

#include "procslink/discovery.hpp"
#include "procslink/error.hpp"
#include "procslink/jsonrpc.hpp"
#include "procslink/log.hpp"
#include "procslink/message.hpp"
#include "procslink/netlink.hpp"
#include "procslink/peer.hpp"
#include "procslink/transport.hpp"
#include "procslink/version.hpp"
