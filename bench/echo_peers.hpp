// echo_peers.hpp - the IPC a user might pick instead of procslink, doing the benchmark's echo.
//
// Each peer echoes the short string of the echo round trip between a server and a client in two
// forked processes, placed on CPUs like every other row, so that procslink can be shown beside
// what else a user could use, with raw netlink from the same run as the common yardstick. The
// peers that need extra packages (sd-bus, gRPC) are compiled only when CMake finds them (with
// PROCSLINK_BENCH_PEERS=ON); the others are always there. Used by procslink_bench's echo section.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "harness.hpp"

namespace procslink::bench {

// How the parent joins a server and its client before forking them: the two ends of a socket
// pair, or the path of a Unix socket the server listens on.
class Link {
 public:
  // A connected pair of AF_UNIX sockets of `type` (SOCK_STREAM, SOCK_SEQPACKET).
  static Link socket_pair(int type);
  // A fresh path in the temporary directory, unique to this process and call; unlinked again
  // when the Link goes.
  static Link unix_path(const std::string& stem);

  Link() = default;
  Link(Link&& other) noexcept;
  Link& operator=(Link&& other) noexcept;
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;
  ~Link();

  int server_fd() const { return server_fd_; }
  int client_fd() const { return client_fd_; }
  const std::string& path() const { return path_; }

 private:
  void release();

  int server_fd_ = -1;
  int client_fd_ = -1;
  std::string path_;
};

// What every echo carries: the string, and the datagram sizes procslink sends for it (for the
// datagram peers that stand in for the kernel limit, as raw netlink does).
struct EchoWork {
  std::string payload;
  std::size_t request_size = 0;
  std::size_t reply_size = 0;
};

struct EchoPeer {
  std::string name;         // as the table shows it
  std::string description;  // what it does, one sentence for the table's legend
  std::function<Link()> link;
  // Runs in the server child: sets up, tells the parent it is ready (announce_nl_pid with any
  // number), and serves forever.
  std::function<void(const Link&, int out_fd)> serve;
  // Runs in the client child: sets up, waits at the gate, and times `count` echoes after
  // `warmup` untimed ones (time_round_trips), checking that each reply is the payload.
  std::function<Measurement(const Link&, const Gate&, std::size_t warmup, std::size_t count)>
      round_trips;
};

// The peers built into this benchmark; `skipped` gets one line for each peer that is not, with
// what would build it.
std::vector<EchoPeer> other_echo_peers(const EchoWork& work, std::vector<std::string>& skipped);

// One per peer, each defined in its own file.
EchoPeer unix_seqpacket_peer(const EchoWork& work);
EchoPeer sdbus_peer(const EchoWork& work);
EchoPeer grpc_peer(const EchoWork& work);

}  // namespace procslink::bench
