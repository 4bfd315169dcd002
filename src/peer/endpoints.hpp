// endpoints.hpp - the peer's sockets, one per network namespace it serves (the first is the
// main one), and what every receiver needs from them: who sent a datagram, a look at all of
// them at once, and a way to wake a thread blocked in a receive on one.
#pragma once

#include <poll.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "clock.hpp"
#include "procslink/message.hpp"
#include "procslink/peer_options.hpp"
#include "procslink/transport.hpp"

namespace procslink::detail {

class ReceiveBatch;

// A datagram as a receiver hands it on.
struct Incoming {
  std::size_t endpoint;
  ReceivedDatagram datagram;
  // Set when the receiving thread alone reads this endpoint's socket for now (a serving
  // thread draining it, or the lead caller receiving for everybody): the fragments behind this
  // one may then be received straight into their message (InboundReassembly::land).
  bool exclusive = false;
  // For a draining thread: its drain stamp (see ServingReceiver), refreshed when a handler is
  // about to run, so a slow one is handed off as usual.
  std::int64_t* drain_stamp = nullptr;
  // For a datagram claimed from a ReceiveBatch: the batch, told once it has been handled, and
  // whether unclaimed datagrams follow it there (then it is not exclusive: the socket's next
  // datagram is not the one behind it).
  ReceiveBatch* batch = nullptr;
  bool more_in_batch = false;
  bool orphan = false;  // claimed by a thread that does not drain its socket
};

// Who sent a message, as the kernel says.
struct Origin {
  std::size_t endpoint;
  std::uint32_t nl_pid;
  Credentials credentials;
  std::uint32_t seq = 0;  // procslinkhdr.seq of a message that came in one datagram, else 0
};

// "nl_pid N (pid P, uid U)", for log lines.
std::string describe_sender(std::uint32_t nl_pid, const Credentials& c);

// One number for a sender (or receiver) on one of the peer's sockets.
inline std::uint64_t sender_key(std::size_t endpoint, std::uint32_t nl_pid) {
  return (std::uint64_t{endpoint} << 32) | nl_pid;
}

class Endpoints {
 public:
  // Opens the main socket and one per options.extra_netns. A named or fixed port must be free
  // in every namespace; an autobound one may differ between them. Throws TransportError.
  explicit Endpoints(const PeerOptions& options);

  std::size_t size() const { return sockets_.size(); }
  const NetlinkSocket& operator[](std::size_t i) const { return sockets_[i]; }
  // The socket inside `netns` ("" for the main one's).
  std::optional<std::size_t> index_of(const std::string& netns) const;

  // A datagram already queued on any socket, without waiting (spinning receivers).
  std::optional<Incoming> receive_any(std::span<std::uint8_t> buffer) const;
  // The next datagram on any socket, or nullopt at `deadline` or when `wake` (an eventfd; -1
  // for none) becomes readable, which it then clears.
  std::optional<Incoming> poll(std::span<std::uint8_t> buffer, Clock::time_point deadline,
                               int wake);
  // Whether another datagram waits on a socket (a one-byte peek).
  bool more_queued(std::size_t endpoint) const;

  // Wakes a thread blocked in a receive on a socket: a bare netlink header sent to the socket
  // itself, which is_wake() recognises. Should the receive buffer be full, it is dropped: the
  // receiver then has datagrams to read and looks again after the next one.
  // Async-signal-safe (stop() may run in a signal handler).
  void wake(std::size_t endpoint) const noexcept;
  bool is_wake(const Incoming& incoming) const {
    const ReceivedDatagram& d = incoming.datagram;
    return d.bytes.size() == kNetlinkHeaderSize &&
           d.sender_nl_pid == sockets_[incoming.endpoint].nl_pid();
  }

 private:
  void open(const SocketOptions& options, const std::string& name);

  std::vector<NetlinkSocket> sockets_;
  std::atomic<std::size_t> rotation_{0};  // poll's first socket, so none starves the others
};

}  // namespace procslink::detail
