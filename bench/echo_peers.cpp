// echo_peers.cpp - the list of other peers this build has, and the links between their halves.
#include "echo_peers.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <system_error>
#include <utility>

namespace procslink::bench {

Link Link::socket_pair(int type) {
  int fds[2];
  if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) != 0) {
    throw std::system_error(errno, std::generic_category(), "socketpair");
  }
  Link link;
  link.server_fd_ = fds[0];
  link.client_fd_ = fds[1];
  return link;
}

Link Link::unix_path(const std::string& stem) {
  static std::atomic<unsigned> counter{0};
  const char* dir = std::getenv("TMPDIR");
  Link link;
  link.path_ = std::string(dir && *dir ? dir : "/tmp") + "/" + stem + "-" +
               std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".sock";
  ::unlink(link.path_.c_str());
  return link;
}

Link::Link(Link&& other) noexcept
    : server_fd_(std::exchange(other.server_fd_, -1)),
      client_fd_(std::exchange(other.client_fd_, -1)),
      path_(std::exchange(other.path_, {})) {}

Link& Link::operator=(Link&& other) noexcept {
  if (this != &other) {
    release();
    server_fd_ = std::exchange(other.server_fd_, -1);
    client_fd_ = std::exchange(other.client_fd_, -1);
    path_ = std::exchange(other.path_, {});
  }
  return *this;
}

Link::~Link() { release(); }

void Link::release() {
  if (server_fd_ >= 0) ::close(server_fd_);
  if (client_fd_ >= 0) ::close(client_fd_);
  if (!path_.empty()) ::unlink(path_.c_str());
  server_fd_ = client_fd_ = -1;
  path_.clear();
}

std::vector<EchoPeer> other_echo_peers(const EchoWork& work,
                                       [[maybe_unused]] std::vector<std::string>& skipped) {
  std::vector<EchoPeer> peers{unix_seqpacket_peer(work)};
#ifdef PROCSLINK_BENCH_HAVE_SDBUS
  peers.push_back(sdbus_peer(work));
#else
  skipped.emplace_back("sd-bus: " PROCSLINK_BENCH_SDBUS_MISSING);
#endif
#ifdef PROCSLINK_BENCH_HAVE_GRPC
  peers.push_back(grpc_peer(work));
#else
  skipped.emplace_back("gRPC: " PROCSLINK_BENCH_GRPC_MISSING);
#endif
  return peers;
}

}  // namespace procslink::bench
