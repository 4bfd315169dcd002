#include "raw_netlink.hpp"

#include <linux/netlink.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "../src/json_scan.hpp"
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

// A buffer for repeated large transfers, set up the way a careful user would: allocated once,
// on transparent huge pages where the system allows them (procslink asks for the same on its
// large buffers), and touched before the clock starts. On 4 KiB pages a 64 MiB copy misses
// the TLB on every page, which on a virtual machine (nested page walks) can cost more than
// the copy itself.
class BulkBuffer {
 public:
  BulkBuffer(std::size_t size, std::uint8_t fill) : size_(size) {
    mapped_ = round_up(size, kHugePage) + kHugePage;  // room to align the start
    void* p = ::mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw_errno("mmap");
    base_ = static_cast<std::uint8_t*>(p);
    data_ = reinterpret_cast<std::uint8_t*>(round_up(reinterpret_cast<std::uintptr_t>(p), kHugePage));
    (void)::madvise(data_, round_up(size, kHugePage), MADV_HUGEPAGE);
    std::memset(data_, fill, size_);
  }
  ~BulkBuffer() { ::munmap(base_, mapped_); }
  BulkBuffer(const BulkBuffer&) = delete;
  BulkBuffer& operator=(const BulkBuffer&) = delete;

  // With `check`: scans the slice a fragment_at(at) gives as a reader checks a string's bytes,
  // and throws if it found a byte that ends a clean run (the fill is clean).
  void scan(std::size_t at, std::size_t fragment, bool check) const {
    if (!check) return;
    const auto* begin = reinterpret_cast<const char*>(data_ + at);
    const char* end = begin + std::min(fragment, size_ - at);
    if (end - detail::skip_clean_blocks(begin, end) >= 64) throw std::runtime_error("unclean fill");
  }

  // The `fragment`-byte slice that starts at `at`, behind `headers`, as a datagram's parts.
  std::array<iovec, 2> fragment_at(std::uint8_t* headers, std::size_t at, std::size_t fragment) {
    return {iovec{headers, kDatagramHeadersSize}, iovec{data_ + at, std::min(fragment, size_ - at)}};
  }

 private:
  static constexpr std::size_t kHugePage = 2u << 20;
  static std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

  std::size_t size_;
  std::size_t mapped_;
  std::uint8_t* base_;
  std::uint8_t* data_;
};

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

void serve_raw_bulk(int out_fd, std::size_t size, std::size_t fragment, bool check) {
  RawSocket socket;
  BulkBuffer data(size, 'a');
  std::uint8_t headers[kDatagramHeadersSize] = {};
  announce_nl_pid(out_fd, socket.nl_pid());
  for (;;) {
    std::uint32_t sender = 0;
    // Scatter straight into place: the cheapest copy a receiver can make.
    for (std::size_t at = 0; at < size; at += fragment) {
      socket.receive(data.fragment_at(headers, at, fragment), &sender, std::chrono::microseconds(0));
      data.scan(at, fragment, check);
    }
    for (std::size_t at = 0; at < size; at += fragment) {
      data.scan(at, fragment, check);
      socket.send(sender, data.fragment_at(headers, at, fragment));
    }
  }
}

Measurement raw_round_trips(const RawPingPong& setup, const std::function<void()>& started,
                            std::size_t warmup, std::size_t count, Clock::duration limit) {
  RawSocket socket;
  const auto request = raw_datagram(setup.request_size, socket.nl_pid());
  std::vector<std::uint8_t> buffer(1 << 16);
  started();
  return time_round_trips(warmup, count, limit, [&] {
    socket.send(setup.server, request);
    socket.receive(buffer, nullptr, setup.spin);
  });
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
                        std::size_t size, std::size_t fragment, std::size_t warmup,
                        std::size_t repeats, bool check) {
  RawSocket socket;
  BulkBuffer out(size, 'a'), in(size, 0);
  std::uint8_t headers[kDatagramHeadersSize] = {};
  const auto echo = [&] {
    for (std::size_t at = 0; at < size; at += fragment) {
      out.scan(at, fragment, check);
      socket.send(server, out.fragment_at(headers, at, fragment));
    }
    for (std::size_t at = 0; at < size; at += fragment) {
      socket.receive(in.fragment_at(headers, at, fragment), nullptr, std::chrono::microseconds(0));
      in.scan(at, fragment, check);
    }
  };
  started();
  // Untimed, as many as procslink's: the first trips through both kernels' paths and into
  // buffers they have not written yet.
  for (std::size_t i = 0; i < warmup; ++i) echo();
  const auto start = Clock::now();
  for (std::size_t r = 0; r < repeats; ++r) echo();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace procslink::bench
