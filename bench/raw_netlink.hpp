// raw_netlink.hpp - the baseline: what the same traffic costs on plain netlink sockets.
//
// Two plain NETLINK_USERSOCK sockets exchanging datagrams of the sizes procslink would send
// (40 header bytes + a body of the same length), written the way a careful user would: buffers
// made once and reused, one sendmsg and one recvmsg per datagram, nothing else (no JSON, no
// credentials, no epoll, no threads). Large transfers go in procslink's fragment size, each
// fragment scattered straight into its place in a buffer on huge pages (as procslink's large
// buffers are). Every procslink figure is printed as a ratio to one of these, measured in the
// same run on the same CPUs.
#pragma once

#include <sys/uio.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "harness.hpp"

namespace procslink::bench {

// One plain socket, autobound, with the buffer sizes procslink asks for.
class RawSocket {
 public:
  RawSocket();
  ~RawSocket();
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  std::uint32_t nl_pid() const { return nl_pid_; }
  void send(std::uint32_t dest, std::span<const iovec> parts) const;
  void send(std::uint32_t dest, const std::vector<std::uint8_t>& datagram) const;
  // Receives one datagram into `parts`; returns its size and the sender. When `spin` is
  // non-zero, polls with MSG_DONTWAIT for that long before blocking (procslink's spin mode).
  std::size_t receive(std::span<const iovec> parts, std::uint32_t* sender,
                      std::chrono::microseconds spin) const;
  std::size_t receive(std::vector<std::uint8_t>& buffer, std::uint32_t* sender,
                      std::chrono::microseconds spin) const;

 private:
  int fd_ = -1;
  std::uint32_t nl_pid_ = 0;
};

// A datagram of `total` bytes with procslink-like headers in front (contents are irrelevant
// to the kernel; the sizes are what matter).
std::vector<std::uint8_t> raw_datagram(std::size_t total, std::uint32_t sender);

// Server: answers every datagram with one `reply_size`-byte datagram to its sender. Never returns.
[[noreturn]] void serve_raw_ping_pong(int out_fd, std::size_t reply_size,
                                      std::chrono::microseconds spin);
// Server: receives `size` bytes in fragments of `fragment` bytes (each behind 40 header bytes)
// into one buffer, one recvmsg each, then sends them back the same way; repeats forever.
// `check`: each fragment's bytes are also scanned as a JSON reader checks a string's (for a
// quote, a backslash, a control character or a byte >= 0x80) right after it is received and
// right before it is sent, the least a peer that checks what it reads and writes must add.
[[noreturn]] void serve_raw_bulk(int out_fd, std::size_t size, std::size_t fragment,
                                 bool check = false);

// Client: sends `request_size`-byte datagrams and waits for each reply, timing every round
// trip after `warmup` untimed ones, until `count` are timed or `limit` has passed.
struct RawPingPong {
  std::uint32_t server = 0;
  std::size_t request_size = 0;
  std::chrono::microseconds spin{0};
};
// `started` runs once the socket is set up, right before the first round trip; `seconds` in the
// result counts from then on.
Measurement raw_round_trips(const RawPingPong& setup, const std::function<void()>& started,
                                       std::size_t warmup, std::size_t count,
                                       std::chrono::steady_clock::duration limit =
                                           std::chrono::steady_clock::duration::max());
// Client: keeps `window` requests in flight until `count` replies came back; returns seconds.
double raw_pipelined_seconds(const RawPingPong& setup, const std::function<void()>& started,
                             std::size_t window, std::size_t count);
// Client: copies `size` bytes to a bulk server and back `repeats` times after `warmup` untimed
// copies, all fragments of a copy sent before the first is received back (as an echo must);
// returns seconds.
double raw_bulk_seconds(std::uint32_t server, const std::function<void()>& started,
                        std::size_t size, std::size_t fragment, std::size_t warmup,
                        std::size_t repeats, bool check = false);

}  // namespace procslink::bench
