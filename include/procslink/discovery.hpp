// discovery.hpp - who is there: the procslink peers of a network namespace, found without a
// broker.
//
// The kernel's table of NETLINK_USERSOCK sockets (/proc/net/netlink as seen from inside the
// namespace) gives each socket's port id and inode; /proc/*/fd maps the inode to the process
// holding it (as far as this caller may look); each port is then asked `rpc.identity`, all at
// once, with a short timeout. A port that answers with any well-formed procslink JSON-RPC reply
// is a peer, including a reference Python peer that answers "method not found" (-32601): it
// is listed without a name.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace procslink {

// One NETLINK_USERSOCK socket of the namespace, as the kernel lists it, with its holder when
// this caller can see it (a process in another PID namespace, or one whose /proc/PID/fd this
// caller may not read, leaves pid, process and uid empty).
struct UsersockSocket {
  std::uint32_t nl_pid = 0;
  std::uint64_t inode = 0;
  std::optional<pid_t> pid;
  std::optional<std::string> process;  // the command name, /proc/PID/comm
  std::optional<uid_t> uid;            // the real uid of the holder
};

// One entry of list_peers: a socket and what its probe found.
struct PeerInfo {
  UsersockSocket socket;
  bool answered = false;            // it replied to rpc.identity with a procslink reply
  std::optional<std::string> name;  // the service name rpc.identity gave, when non-empty
};

struct DiscoveryOptions {
  std::string netns;  // empty: the calling thread's network namespace; else a path
  std::chrono::milliseconds timeout{300};  // how long the probes wait for replies, in all
  bool include_silent = false;  // also list the sockets that did not answer (answered=false)
};

struct Discovery {
  std::vector<PeerInfo> peers;  // sorted by nl_pid
  // What could not be seen, for a note on stderr: e.g. "the processes holding 2 sockets are
  // not visible to this caller (...)". Empty when everything was visible.
  std::vector<std::string> unseen;
};

// The NETLINK_USERSOCK sockets of the namespace (the caller's own included), sorted by
// nl_pid, each with its holder where visible. Throws TransportError when the table cannot be
// read or the namespace cannot be entered.
std::vector<UsersockSocket> usersock_sockets(const std::string& netns = {});

// The peers of the namespace (see the top of this file). Throws TransportError when the
// namespace cannot be entered or no probe socket can be opened.
Discovery list_peers(const DiscoveryOptions& options = {});

}  // namespace procslink
