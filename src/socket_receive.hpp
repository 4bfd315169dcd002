// socket_receive.hpp - the receive on a NetlinkSocket that only the peer needs (internal): one
// datagram scattered over the caller's buffers, so that a fragment's headers land apart and its
// body straight in the message it belongs to (InboundReassembly::land).
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

// A datagram received into the caller's iovecs.
struct ScatteredDatagram {
  std::uint32_t sender_nl_pid = 0;
  Credentials credentials;
  std::size_t length = 0;  // the whole datagram's: more than the iovecs hold when it was cut
};

// One recvmsg on `fd` with the sender's credentials (MSG_TRUNC added to `flags`). Nullopt
// when nothing is queued (MSG_DONTWAIT) or the receive timed out. Throws TransportError.
std::optional<ScatteredDatagram> receive_datagram(int fd, std::span<iovec> iov, int flags);

}  // namespace procslink::detail
