// inbound_reassembly.hpp - the fragments of incoming messages until they are whole: one
// reassembler for all senders under its own lock, kept within its budget (with log lines for
// what it drops), expired on time by a reaper thread, and landing a fragmented message's
// fragments straight into its buffer when one thread alone reads the socket, a long string
// at the buffer's front, checked as it lands.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "clock.hpp"
#include "endpoints.hpp"
#include "procslink/message.hpp"
#include "procslink/peer_options.hpp"
#include "../json_reader.hpp"
#include "../socket_receive.hpp"
#include "reassembly_reaper.hpp"

namespace procslink::detail {

class InboundReassembly {
 public:
  // A whole message: its body, or, when a long string in it was landed at the front of the
  // buffer (ReassemblyHooks::split), the body in two pieces: `head`, then `body`, whose first
  // `checked` bytes were found clean string content as they landed (clean_prefix).
  struct Complete {
    PayloadType payload_type = PayloadType::request;
    std::string body;
    std::string head;
    std::size_t checked = 0;
  };

  explicit InboundReassembly(const PeerOptions& options);
  InboundReassembly(const InboundReassembly&) = delete;
  InboundReassembly& operator=(const InboundReassembly&) = delete;

  struct Added {
    std::optional<Complete> complete;  // the message this fragment completed
    // The fragment has more of its message behind it on a socket this thread alone reads, and
    // the message's buffer has room for the next one: land() may receive it in place.
    bool room_behind = false;
  };
  // Adds a fragment received into a receive buffer (dropped with a log line if it breaks a rule
  // or a limit: then neither field is set).
  Added add(const Incoming& incoming, const ProcslinkMessage& fragment);

  // A datagram that came when land() expected the next fragment, copied out of the message's
  // room: it is handled as if received the usual way.
  struct Stray {
    std::uint32_t sender_nl_pid;
    Credentials credentials;
    std::vector<std::uint8_t> bytes;
  };
  struct Landed {
    std::optional<Complete> complete;
    std::optional<Stray> stray;
  };
  // After a fragment with room behind it: receives what is queued on the socket straight into
  // the message's buffer, as long as each datagram is the next fragment of message `seq` from
  // `sender` and the buffer has room for it (one read each, the headers apart): for a large
  // message, one pass over its bytes saved. Stops at an empty queue, at the first datagram
  // that is anything else (returned as the stray, to be handled next), or when the message is
  // complete (returned; `origin` takes its sender's latest credentials). No handler runs in
  // here. When the queue is empty it looks again for up to kLandingPatience after the last
  // fragment landed, without sleeping: a sender that stops half way costs this thread that
  // long, and any other datagram ends the wait.
  Landed land(const NetlinkSocket& socket, std::size_t endpoint, std::uint32_t sender,
              std::uint32_t seq, Origin& origin);

  static constexpr std::chrono::microseconds kLandingPatience{50};

  // Takes a completed body (or a large string result) back as the buffer for the next message.
  void recycle(std::string&& body);
  // What the limits hold and did, and how many fragments landed in place and messages
  // completed split (rpc.stats' "reassembly").
  json stats();

 private:
  // With mutex_ held: adds a fragment counted towards its sender's uid, split at `split` if
  // it starts a message (split_point), and logs what it dropped (itself, or other senders'
  // messages it made room by). False when dropped.
  bool add_locked(std::uint64_t key, const ProcslinkMessage& fragment, std::uint32_t sender,
                  const Credentials& credentials, std::optional<Complete>& complete,
                  const std::optional<OpenStringAt>& split = std::nullopt);
  // For fragment 0 of a message announced as kAdoptMin bytes or more that ends inside a
  // string: where that string starts, to land it at the front of the buffer from its first
  // byte on (ReassemblyHooks::split_next), where the reader can take it over without moving
  // it; what the fragment holds of it is checked already. Nullopt for any other fragment.
  static std::optional<OpenStringAt> split_point(const ProcslinkMessage& fragment);
  // With mutex_ held: checks the bytes of a split message's string landed since the last look,
  // so that the reader only looks at the last fragment's.
  void check_landed_locked(std::uint64_t key, std::uint32_t seq);
  void log_evictions_locked(const std::vector<FragmentReassembler::Eviction>& evicted,
                            const Credentials& credentials);
  // land()'s one step: the next datagram, received aimed at the message's room.
  struct Step {
    std::optional<Complete> complete;
    std::optional<Stray> stray;
    bool stop = false;
    bool queue_empty = false;  // stopped because nothing was queued (yet)
  };
  using Headers = std::array<std::uint8_t, kDatagramHeadersSize>;
  Step land_one(const NetlinkSocket& socket, std::size_t endpoint, std::uint32_t sender,
                std::uint32_t seq, Origin& origin);
  static std::optional<Stray> take_stray(const ScatteredDatagram& got, const Headers& headers,
                                         const ReassemblyHooks::Room& room,
                                         std::span<const std::uint8_t> spill);

  std::mutex mutex_;
  FragmentReassembler reassembler_;
  std::size_t unlogged_evictions_ = 0;   // under mutex_
  Clock::time_point last_eviction_log_;  // under mutex_
  std::uint64_t landed_fragments_ = 0;   // under mutex_: received straight into their buffer
  std::uint64_t split_messages_ = 0;     // under mutex_: completed with a string at the front
  ReassemblyReaper reaper_{mutex_, reassembler_};  // after what it uses
};

}  // namespace procslink::detail
