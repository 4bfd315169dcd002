// socket_receive.hpp - receives on a NetlinkSocket that only the peer needs (internal): a look
// at a queued datagram's headers, and a receive in two parts, so that a fragment's body lands
// straight in the message it belongs to (InboundReassembly::land).
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "procslink/transport.hpp"

namespace procslink::detail {

// A datagram looked at but left queued.
struct PeekedDatagram {
  std::uint32_t sender_nl_pid = 0;
  std::size_t length = 0;              // the whole datagram's
  std::span<const std::uint8_t> head;  // its first bytes, as many as the buffer held
};

// A datagram received into the caller's iovecs.
struct ScatteredDatagram {
  std::uint32_t sender_nl_pid = 0;
  Credentials credentials;
  std::size_t length = 0;  // the whole datagram's: more than the iovecs hold when it was cut
};

// One recvmsg on `fd` with the sender's credentials (MSG_TRUNC added to `flags`). Nullopt
// when nothing is queued (MSG_DONTWAIT) or the receive timed out. Throws TransportError.
std::optional<ScatteredDatagram> receive_datagram(int fd, std::span<iovec> iov, int flags);

// Looks at the next queued datagram without taking it: its sender, whole length and first
// head.size() bytes. Never waits; nullopt when none is queued.
inline std::optional<PeekedDatagram> peek(const NetlinkSocket& socket,
                                          std::span<std::uint8_t> head) {
  iovec iov{head.data(), head.size()};
  const auto got = receive_datagram(socket.fd(), {&iov, 1}, MSG_PEEK | MSG_DONTWAIT);
  if (!got) return std::nullopt;
  return PeekedDatagram{got->sender_nl_pid, got->length,
                        head.first(std::min(got->length, head.size()))};
}

// Reads one datagram with its first head.size() bytes put in `head` and the rest in `tail`.
// Bytes beyond both are cut off (the length says so). Nullopt when none is queued and not
// `wait`.
inline std::optional<ScatteredDatagram> receive_scattered(const NetlinkSocket& socket,
                                                          std::span<std::uint8_t> head,
                                                          std::span<std::uint8_t> tail, bool wait) {
  iovec iov[2] = {{head.data(), head.size()}, {tail.data(), tail.size()}};
  return receive_datagram(socket.fd(), iov, wait ? 0 : MSG_DONTWAIT);
}

}  // namespace procslink::detail
