// receive_batch.hpp - the datagrams one recvmmsg took from a socket, waiting to be handled.
//
// A system call costs about as much as everything else a small call costs the server (on a
// virtual machine, more): a thread that drains a socket with datagrams queued behind the one it
// reads (pipelined calls, many clients) takes up to kSlots of them in one recvmmsg and handles
// them one by one. Each datagram keeps a slot of its own, as large as the largest datagram, so
// none is cut: the slots' memory is reserved, not touched, until a datagram lands in it.
//
// Whoever drains the socket claims the slots in order, before it reads the socket again, so the
// order of its datagrams holds. Once the socket is handed off or back (ServingReceiver), the
// datagrams not yet claimed are anybody's: any serving thread may claim one, and handles it in
// place. The batch is filled again only when every claimed datagram has been handled.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <linux/netlink.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "procslink/transport.hpp"

namespace procslink::detail {

class ReceiveBatch {
 public:
  static constexpr unsigned kSlots = 16;

  // A datagram claimed from the batch.
  struct Claimed {
    ReceivedDatagram datagram;   // valid until handled() is called for it
    bool more_behind = false;    // unclaimed datagrams follow it in the batch
  };

  ReceiveBatch() = default;
  ReceiveBatch(const ReceiveBatch&) = delete;
  ReceiveBatch& operator=(const ReceiveBatch&) = delete;
  ~ReceiveBatch();

  enum class Fill { filled, nothing, busy };
  // One recvmmsg on `fd`: with `wait`, blocks for the first datagram (until the socket's
  // receive timeout, if it has one), then takes those already queued behind it, up to kSlots;
  // without, takes only what is queued. `busy` (and nothing read) unless reusable() and no
  // other thread fills it right now (a drainer whose socket was just handed off, say).
  // After a fill that took a fragment of a larger message, the next fill takes one datagram
  // only: the fragments a batch holds are copied out of their slots, while a fragment read
  // alone lets its reader land the ones behind it in the message's buffer
  // (InboundReassembly::land), so a stream of large messages is read without that copy.
  // Throws TransportError.
  Fill fill(int fd, bool wait);
  // The next unclaimed datagram, in the order they arrived; nullopt when all are claimed.
  // A datagram longer than a slot (so cut short) is dropped with a log line, as
  // NetlinkSocket::receive drops it.
  std::optional<Claimed> claim();
  // The same for a thread that does not drain the socket (after a hand-off): one such claim
  // at a time, until handled(true), so the datagrams left behind are still handled one after
  // another, in order, as the socket's next drainer would have read them.
  std::optional<Claimed> claim_orphan();
  // A claimed datagram's handling has ended: its slot may be refilled. `orphan`: it came from
  // claim_orphan(), whose turn passes on.
  void handled(bool orphan = false) {
    if (orphan) orphan_turn_.store(false, std::memory_order_release);
    handled_.fetch_add(1, std::memory_order_acq_rel);
  }

  bool has_unclaimed() const {
    const std::uint32_t s = state_.load(std::memory_order_acquire);
    return next_of(s) < count_of(s);
  }
  // Every datagram of the last fill has been claimed and handled.
  bool reusable() const {
    const std::uint32_t s = state_.load(std::memory_order_acquire);
    return next_of(s) == count_of(s) && handled_.load(std::memory_order_acquire) == count_of(s);
  }

 private:
  // Claims and the fill's size in one word, so a claim never reads a count from another fill.
  static std::uint32_t next_of(std::uint32_t s) { return s & 0xffff; }
  static std::uint32_t count_of(std::uint32_t s) { return s >> 16; }

  std::uint8_t* slot(unsigned j) const { return memory_ + std::size_t{j} * kMaxDatagramSize; }
  void reserve();
  // Points slot j's header at its buffer, address and control room, as recvmmsg expects them.
  void set_up(unsigned j);

  std::uint8_t* memory_ = nullptr;  // kSlots * kMaxDatagramSize, reserved on the first fill
  std::atomic<std::uint32_t> state_{0};    // next slot to claim | count << 16
  std::atomic<std::uint32_t> handled_{0};  // claimed datagrams handled since the fill
  std::atomic<bool> filling_{false};
  std::atomic<bool> orphan_turn_{false};  // an orphan claimed and not yet handled
  // The last fill took a fragment: the next takes one datagram, so that a large message's
  // first fragment is read alone and the rest can land straight in its buffer.
  bool single_next_ = false;
  unsigned written_ = 0;  // headers the last recvmmsg may have written to (set up again)
  mmsghdr headers_[kSlots]{};
  iovec iov_[kSlots]{};
  sockaddr_nl senders_[kSlots]{};
  alignas(cmsghdr) char control_[kSlots][CMSG_SPACE(sizeof(ucred))]{};
};

}  // namespace procslink::detail
