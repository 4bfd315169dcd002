// endpoints.cpp - opening the peer's sockets, looking at all of them, waking their receivers.
#include "endpoints.hpp"

#include <linux/netlink.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "procslink/netlink.hpp"

namespace procslink::detail {

std::string describe_sender(std::uint32_t nl_pid, const Credentials& c) {
  return "nl_pid " + std::to_string(nl_pid) + " (pid " + std::to_string(c.pid) + ", uid " +
         std::to_string(c.uid) + ")";
}

Endpoints::Endpoints(const PeerOptions& options) {
  std::uint32_t port = options.nl_pid;
  if (port == 0 && !options.name.empty()) port = port_id_for_name(options.name);
  SocketOptions main;
  main.nl_pid = port;
  main.netns = options.netns;
  main.send_timeout = options.send_timeout;
  open(main, options.name);
  for (const auto& netns : options.extra_netns) {
    SocketOptions extra = main;
    extra.netns = netns;
    extra.nl_pid = sockets_.front().nl_pid();
    try {
      open(extra, options.name);
    } catch (const TransportError& e) {
      // Named or fixed ports must be the same everywhere; an autobound one may differ.
      if (e.kind() != TransportError::Kind::address_in_use || port != 0) throw;
      extra.nl_pid = 0;
      sockets_.emplace_back(extra);
    }
  }
}

// A name is taken per network namespace, so it must be free in every one the peer serves.
void Endpoints::open(const SocketOptions& options, const std::string& name) {
  try {
    sockets_.emplace_back(options);
  } catch (const TransportError& e) {
    if (name.empty() || e.kind() != TransportError::Kind::address_in_use) throw;
    throw TransportError(e.kind(), "cannot take service name '" + name + "': " + e.what());
  }
}

std::optional<std::size_t> Endpoints::index_of(const std::string& netns) const {
  for (std::size_t i = 0; i < sockets_.size(); ++i) {
    if (sockets_[i].netns() == netns) return i;
  }
  return std::nullopt;
}

std::optional<Incoming> Endpoints::receive_any(std::span<std::uint8_t> buffer) const {
  for (std::size_t i = 0; i < sockets_.size(); ++i) {
    if (auto d = sockets_[i].receive(buffer, false)) return Incoming{i, *d};
  }
  return std::nullopt;
}

std::optional<Incoming> Endpoints::poll(std::span<std::uint8_t> buffer,
                                        Clock::time_point deadline, int wake) {
  // Usually one socket and the wake-up: no allocation for them.
  std::array<pollfd, 4> few;
  std::vector<pollfd> many;
  const std::size_t sockets = sockets_.size();
  if (sockets + 1 > few.size()) many.resize(sockets + 1);
  const std::span<pollfd> fds = many.empty() ? std::span<pollfd>(few.data(), sockets + 1)
                                             : std::span<pollfd>(many);
  for (std::size_t i = 0; i < sockets; ++i) fds[i] = {sockets_[i].fd(), POLLIN, 0};
  fds[sockets] = {wake, POLLIN, 0};  // last: not a socket
  for (;;) {
    if (Clock::now() >= deadline) return std::nullopt;
    const timespec timeout = timeout_until(deadline);
    const int n = ppoll(fds.data(), fds.size(), &timeout, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw TransportError(TransportError::Kind::other,
                           std::string("ppoll: ") + std::strerror(errno));
    }
    if (fds[sockets].revents != 0) {
      std::uint64_t value;
      while (::read(wake, &value, sizeof value) > 0) {
      }
      return std::nullopt;  // the caller looks at its call again
    }
    const std::size_t first = rotation_++;
    for (std::size_t k = 0; k < sockets; ++k) {
      const std::size_t i = (first + k) % sockets;
      if (fds[i].revents == 0) continue;
      if (auto d = sockets_[i].receive(buffer, false)) return Incoming{i, *d};
    }
  }
}

bool Endpoints::more_queued(std::size_t endpoint) const {
  std::uint8_t byte;
  return ::recv(sockets_[endpoint].fd(), &byte, 1, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC) >= 0;
}

void Endpoints::wake(std::size_t endpoint) const noexcept {
  std::uint8_t header[kNetlinkHeaderSize];
  const std::uint32_t self_pid = sockets_[endpoint].nl_pid();
  NetlinkMessageHeader{0, NLMSG_NOOP, 0, 0, self_pid}.encode(header);
  sockaddr_nl self{};
  self.nl_family = AF_NETLINK;
  self.nl_pid = self_pid;
  (void)::sendto(sockets_[endpoint].fd(), header, sizeof header, MSG_DONTWAIT,
                 reinterpret_cast<const sockaddr*>(&self), sizeof self);
}

}  // namespace procslink::detail
