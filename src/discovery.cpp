// discovery.cpp - list_peers: the namespace's USERSOCK sockets (socket_table.cpp) each asked
// rpc.identity from one probe socket, all requests sent first, the replies gathered until all
// came or the timeout passed.
#include <poll.h>

#include <algorithm>
#include <map>

#include "procslink/discovery.hpp"
#include "procslink/error.hpp"
#include "procslink/jsonrpc.hpp"
#include "procslink/message.hpp"
#include "procslink/transport.hpp"

namespace procslink {
namespace {

// Sends rpc.identity (id = the port id) to `port`; false when nobody is bound there any more
// or its receive buffer is full.
bool send_probe(const NetlinkSocket& socket, std::uint32_t port) {
  const std::string body = R"({"jsonrpc":"2.0","method":"rpc.identity","id":)" +
                           std::to_string(port) + "}";
  const DatagramFields fields{socket.nl_pid(), PayloadType::request, port, 0, 0, 0, 0};
  const std::vector<std::uint8_t> datagram = build_datagram(fields, body);
  const iovec part{const_cast<std::uint8_t*>(datagram.data()), datagram.size()};
  try {
    socket.send(port, {&part, 1}, false);
    return true;
  } catch (const TransportError&) {
    return false;
  }
}

// The probe's outcome in one reply datagram from `entry`, if it is a well-formed procslink
// JSON-RPC response: answered, and the name when rpc.identity gave a non-empty one.
bool take_reply(const ReceivedDatagram& d, PeerInfo& entry) {
  try {
    const ProcslinkMessage message = ProcslinkMessage::parse(d.bytes);
    if (message.payload_type() != PayloadType::response || message.header.is_fragment()) {
      return false;
    }
    const std::vector<JsonRpcResponse> replies = parse_response_body(message.body);
    if (replies.size() != 1) return false;
    entry.answered = true;
    if (!replies[0].is_error() && replies[0].result().is_object()) {
      const json& name = replies[0].result()["name"];
      if (name.is_string() && !name.get<std::string>().empty()) {
        entry.name = name.get<std::string>();
      }
    }
    return true;
  } catch (const std::exception&) {
    return false;  // not procslink, or not JSON-RPC: not a peer
  }
}

// Gathers replies into `entries` (keyed by port) until every probed port answered or the
// timeout passed.
void gather_replies(const NetlinkSocket& socket, std::map<std::uint32_t, PeerInfo*>& entries,
                    std::size_t probed, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<std::uint8_t> buffer;
  std::size_t answered = 0;
  while (answered < probed) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pollfd p{socket.fd(), POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    const auto d = socket.receive(buffer, false);
    if (!d) continue;
    auto it = entries.find(d->sender_nl_pid);
    if (it == entries.end() || it->second->answered) continue;
    if (take_reply(*d, *it->second)) ++answered;
  }
}

std::vector<std::string> unseen_notes(const std::vector<PeerInfo>& peers) {
  const auto hidden = std::count_if(peers.begin(), peers.end(),
                                    [](const PeerInfo& p) { return !p.socket.pid; });
  if (hidden == 0) return {};
  return {(hidden == 1 ? std::string("the process holding 1 socket is")
                       : "the processes holding " + std::to_string(hidden) + " sockets are") +
          " not visible to this caller (another PID namespace, or /proc/PID/fd not readable "
          "without privilege)"};
}

}  // namespace

Discovery list_peers(const DiscoveryOptions& options) {
  SocketOptions socket_options;
  socket_options.netns = options.netns;
  const NetlinkSocket socket(socket_options);
  std::vector<PeerInfo> all;
  for (const UsersockSocket& s : usersock_sockets(options.netns)) {
    if (s.nl_pid != socket.nl_pid()) all.push_back(PeerInfo{s, false, std::nullopt});
  }
  std::map<std::uint32_t, PeerInfo*> entries;
  std::size_t probed = 0;
  for (PeerInfo& p : all) {
    entries[p.socket.nl_pid] = &p;
    if (send_probe(socket, p.socket.nl_pid)) ++probed;
  }
  gather_replies(socket, entries, probed, options.timeout);
  Discovery result;
  for (PeerInfo& p : all) {
    if (p.answered || options.include_silent) result.peers.push_back(std::move(p));
  }
  result.unseen = unseen_notes(result.peers);
  return result;
}

}  // namespace procslink
