#include "raw_netlink.hpp"

#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <system_error>

#include "procslink/message.hpp"

namespace procslink::bench {
namespace {

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

void set_buffer(int fd, int force_option, int option, int bytes) {
  // Same sizes as procslink's sockets, so neither side gets a deeper queue.
  if (setsockopt(fd, SOL_SOCKET, force_option, &bytes, sizeof bytes) != 0) {
    (void)setsockopt(fd, SOL_SOCKET, option, &bytes, sizeof bytes);
  }
}

double since_us(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

}  // namespace

RawSocket::RawSocket() {
  fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_USERSOCK);
  if (fd_ < 0) throw_errno("socket(AF_NETLINK, NETLINK_USERSOCK)");
  set_buffer(fd_, SO_RCVBUFFORCE, SO_RCVBUF, 4 << 20);
  set_buffer(fd_, SO_SNDBUFFORCE, SO_SNDBUF, 4 << 20);
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  socklen_t len = sizeof addr;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    ::close(fd_);
    errno = err;
    throw_errno("bind netlink socket");
  }
  nl_pid_ = addr.nl_pid;
}

RawSocket::~RawSocket() { ::close(fd_); }

void RawSocket::send(std::uint32_t dest, std::span<const iovec> parts) const {
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_pid = dest;
  msghdr msg{};
  msg.msg_name = &addr;
  msg.msg_namelen = sizeof addr;
  msg.msg_iov = const_cast<iovec*>(parts.data());
  msg.msg_iovlen = parts.size();
  while (::sendmsg(fd_, &msg, 0) < 0) {
    if (errno != EINTR) throw_errno("sendmsg");
  }
}

void RawSocket::send(std::uint32_t dest, const std::vector<std::uint8_t>& datagram) const {
  const iovec part{const_cast<std::uint8_t*>(datagram.data()), datagram.size()};
  send(dest, std::span<const iovec>(&part, 1));
}

std::size_t RawSocket::receive(std::span<const iovec> parts, std::uint32_t* sender,
                               std::chrono::microseconds spin) const {
  sockaddr_nl addr{};
  msghdr msg{};
  msg.msg_name = &addr;
  msg.msg_namelen = sizeof addr;
  msg.msg_iov = const_cast<iovec*>(parts.data());
  msg.msg_iovlen = parts.size();
  ssize_t n = -1;
  if (spin.count() > 0) {
    const auto until = Clock::now() + spin;
    do {
      n = ::recvmsg(fd_, &msg, MSG_DONTWAIT);
    } while (n < 0 && (errno == EAGAIN || errno == EINTR) && Clock::now() < until);
  }
  while (n < 0) {
    n = ::recvmsg(fd_, &msg, 0);
    if (n < 0 && errno != EINTR) throw_errno("recvmsg");
  }
  if (sender) *sender = addr.nl_pid;
  return static_cast<std::size_t>(n);
}

std::size_t RawSocket::receive(std::vector<std::uint8_t>& buffer, std::uint32_t* sender,
                               std::chrono::microseconds spin) const {
  const iovec part{buffer.data(), buffer.size()};
  return receive(std::span<const iovec>(&part, 1), sender, spin);
}

std::vector<std::uint8_t> raw_datagram(std::size_t total, std::uint32_t sender) {
  std::vector<std::uint8_t> datagram(std::max(total, kDatagramHeadersSize), 'x');
  DatagramFields fields;
  fields.sender_nl_pid = sender;
  encode_datagram_headers(fields, datagram.size() - kDatagramHeadersSize, datagram.data());
  return datagram;
}

void serve_raw_ping_pong(int out_fd, std::size_t reply_size, std::chrono::microseconds spin) {
  RawSocket socket;
  const auto reply = raw_datagram(reply_size, socket.nl_pid());
  std::vector<std::uint8_t> buffer(1 << 16);
  announce_nl_pid(out_fd, socket.nl_pid());
  for (;;) {
    std::uint32_t sender = 0;
    socket.receive(buffer, &sender, spin);
    socket.send(sender, reply);
  }
}

void serve_raw_bulk(int out_fd, std::size_t size, std::size_t fragment) {
  RawSocket socket;
  std::vector<std::uint8_t> data(size);
  std::uint8_t headers[kDatagramHeadersSize];
  announce_nl_pid(out_fd, socket.nl_pid());
  for (;;) {
    std::uint32_t sender = 0;
    // Scatter straight into place: the cheapest copy a receiver can make.
    for (std::size_t at = 0; at < size; at += fragment) {
      const iovec parts[2] = {{headers, sizeof headers}, {data.data() + at, std::min(fragment, size - at)}};
      socket.receive(parts, &sender, std::chrono::microseconds(0));
    }
    for (std::size_t at = 0; at < size; at += fragment) {
      const iovec parts[2] = {{headers, sizeof headers}, {data.data() + at, std::min(fragment, size - at)}};
      socket.send(sender, parts);
    }
  }
}

Measurement raw_round_trips(const RawPingPong& setup, const std::function<void()>& started,
                            std::size_t warmup, std::size_t count, Clock::duration limit) {
  RawSocket socket;
  const auto request = raw_datagram(setup.request_size, socket.nl_pid());
  std::vector<std::uint8_t> buffer(1 << 16);
  Measurement m;
  m.latencies_us.reserve(std::min<std::size_t>(count, 1u << 22));
  started();
  const auto begin = Clock::now();
  const auto until = limit == Clock::duration::max() ? Clock::time_point::max() : begin + limit;
  for (std::size_t i = 0; i < warmup + count; ++i) {
    const auto start = Clock::now();
    if (start >= until) break;
    socket.send(setup.server, request);
    socket.receive(buffer, nullptr, setup.spin);
    if (i >= warmup) m.latencies_us.push_back(since_us(start));
  }
  m.seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  m.operations = m.latencies_us.size();
  return m;
}

double raw_pipelined_seconds(const RawPingPong& setup, const std::function<void()>& started,
                             std::size_t window, std::size_t count) {
  RawSocket socket;
  const auto request = raw_datagram(setup.request_size, socket.nl_pid());
  std::vector<std::uint8_t> buffer(1 << 16);
  started();
  const auto start = Clock::now();
  std::size_t sent = 0;
  for (; sent < std::min(window, count); ++sent) socket.send(setup.server, request);
  for (std::size_t received = 0; received < count; ++received) {
    socket.receive(buffer, nullptr, std::chrono::microseconds(0));
    if (sent < count) {
      socket.send(setup.server, request);
      ++sent;
    }
  }
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double raw_bulk_seconds(std::uint32_t server, const std::function<void()>& started,
                        std::size_t size, std::size_t fragment, std::size_t repeats) {
  RawSocket socket;
  std::vector<std::uint8_t> out(size, 'a'), in(size);
  std::uint8_t headers[kDatagramHeadersSize] = {};
  started();
  const auto start = Clock::now();
  for (std::size_t r = 0; r < repeats; ++r) {
    for (std::size_t at = 0; at < size; at += fragment) {
      const iovec parts[2] = {{headers, sizeof headers}, {out.data() + at, std::min(fragment, size - at)}};
      socket.send(server, parts);
    }
    for (std::size_t at = 0; at < size; at += fragment) {
      const iovec parts[2] = {{headers, sizeof headers}, {in.data() + at, std::min(fragment, size - at)}};
      socket.receive(parts, nullptr, std::chrono::microseconds(0));
    }
  }
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace procslink::bench
