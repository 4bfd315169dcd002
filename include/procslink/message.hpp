// message.hpp - the procslink message: procslinkhdr framing, datagrams and fragments.
//
// After the nlmsghdr comes a 24-byte procslinkhdr (big-endian: u16 version, u16 flag,
// u32 length, u16 payload_type, u16 reserved, u32 seq, u64 timestamp) and the UTF-8 JSON-RPC
// body. `length` counts only the body. The reference sends flag, reserved, seq and timestamp
// as 0; we fill seq and timestamp and use flag/reserved for fragments of messages that do not
// fit the reference's 4 KiB datagram (see PROTOCOL.md). Whole messages never use them, so a
// reference peer reads everything it could have sent itself.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "procslink/byteorder.hpp"
#include "procslink/netlink.hpp"

namespace procslink {

inline constexpr std::size_t kProcslinkHeaderSize = 24;
inline constexpr std::size_t kDatagramHeadersSize = kNetlinkHeaderSize + kProcslinkHeaderSize;
inline constexpr std::uint16_t kProcslinkVersion = 1;
// The reference reads each datagram with a 4096-byte buffer: anything up to this size is sent
// whole, anything larger is fragmented.
inline constexpr std::size_t kReferenceMaxDatagram = 4096;

enum class PayloadType : std::uint16_t { request = 1, response = 2 };

struct ProcslinkHeader;
namespace detail {
// The FramingErrors of the inline parsers below, out of line (they build a message).
[[noreturn]] void throw_short_procslink_header(std::size_t size);
// The first thing validate_header objects to in `h`, which it has found wrong.
[[noreturn]] void throw_invalid_procslink_header(const ProcslinkHeader& h, std::size_t available);
}  // namespace detail

// procslinkhdr.flag bits (0 in every message the reference sends).
inline constexpr std::uint16_t kFlagFragment = 0x0001;      // this datagram is one fragment
inline constexpr std::uint16_t kFlagLastFragment = 0x0002;  // ... and it is the last one
inline constexpr std::uint16_t kKnownFlags = kFlagFragment | kFlagLastFragment;

struct ProcslinkHeader {
  std::uint16_t version = kProcslinkVersion;
  std::uint16_t flag = 0;
  std::uint32_t length = 0;  // body bytes after this header
  std::uint16_t payload_type = 0;
  std::uint16_t reserved = 0;  // fragment index when flag has kFlagFragment
  std::uint32_t seq = 0;       // sender's message counter (all fragments of a message share it)
  std::uint64_t timestamp = 0;  // send time, ns since the Unix epoch (0 from the reference)

  // Writes kProcslinkHeaderSize bytes.
  void encode(std::uint8_t* out) const {
    detail::store_be16(out, version);
    detail::store_be16(out + 2, flag);
    detail::store_be32(out + 4, length);
    detail::store_be16(out + 8, payload_type);
    detail::store_be16(out + 10, reserved);
    detail::store_be32(out + 12, seq);
    detail::store_be64(out + 16, timestamp);
  }
  // Throws FramingError if short.
  static ProcslinkHeader decode(ByteView bytes) {
    if (bytes.size() < kProcslinkHeaderSize) detail::throw_short_procslink_header(bytes.size());
    const std::uint8_t* p = bytes.data();
    ProcslinkHeader h;
    h.version = detail::load_be16(p);
    h.flag = detail::load_be16(p + 2);
    h.length = detail::load_be32(p + 4);
    h.payload_type = detail::load_be16(p + 8);
    h.reserved = detail::load_be16(p + 10);
    h.seq = detail::load_be32(p + 12);
    h.timestamp = detail::load_be64(p + 16);
    return h;
  }

  bool is_fragment() const { return (flag & kFlagFragment) != 0; }
  bool operator==(const ProcslinkHeader&) const = default;
};

// One whole datagram viewed in place: both headers and the body (or fragment) they frame.
struct ProcslinkMessage {
  NetlinkMessageHeader netlink;
  ProcslinkHeader header;
  std::string_view body;  // points into the datagram

  PayloadType payload_type() const { return static_cast<PayloadType>(header.payload_type); }

  // Parses and validates a datagram: both lengths exact, version 1, payload type 1 or 2, only
  // known flag bits, fragment flags consistent. Does not look inside the body.
  // Throws FramingError naming the first problem.
  static ProcslinkMessage parse(ByteView datagram);  // defined below
  // The same for a datagram received in two parts: its kDatagramHeadersSize header bytes, and
  // the body, wherever it was put (the message views it there).
  static ProcslinkMessage parse(ByteView headers, std::string_view body);
};

// Whether a datagram says it is a fragment with more of its message after it: a receiver can
// then keep reading rather than hand the socket to another thread, which could take the next
// fragment first. A glance at the flag only, not validation (parse does that).
inline bool more_fragments_follow(ByteView datagram) {
  if (datagram.size() < kDatagramHeadersSize) return false;
  const std::uint16_t flag = detail::load_be16(datagram.data() + kNetlinkHeaderSize + 2);
  return (flag & (kFlagFragment | kFlagLastFragment)) == kFlagFragment;
}

// What a sender puts in the headers of one datagram besides the body.
struct DatagramFields {
  std::uint32_t sender_nl_pid = 0;
  PayloadType payload_type = PayloadType::request;
  std::uint32_t seq = 0;
  std::uint64_t timestamp = 0;
  std::uint16_t flag = 0;
  std::uint16_t reserved = 0;
  // Goes into a fragment's nlmsg_seq (a whole message's carries `seq`): the length of the
  // whole body, so the receiver can allocate it once. 0 when it does not fit 32 bits.
  std::uint32_t message_length = 0;
};

namespace detail {
// Checks what parse promises of the procslink header, given how many body bytes follow it.
inline void validate_header(const ProcslinkHeader& h, std::size_t available) {
  const bool fragment_flags_ok =
      (h.flag & ~kKnownFlags) == 0 &&
      ((h.flag & kFlagLastFragment) == 0 || (h.flag & kFlagFragment) != 0);
  if (h.version != kProcslinkVersion ||
      (h.payload_type != static_cast<std::uint16_t>(PayloadType::request) &&
       h.payload_type != static_cast<std::uint16_t>(PayloadType::response)) ||
      !fragment_flags_ok || h.length != available) {
    throw_invalid_procslink_header(h, available);
  }
}
}  // namespace detail

inline ProcslinkMessage ProcslinkMessage::parse(ByteView datagram) {
  const NetlinkMessage netlink = NetlinkMessage::parse(datagram);
  ProcslinkMessage message{netlink.header, ProcslinkHeader::decode(netlink.payload), {}};
  const std::size_t available = netlink.payload.size() - kProcslinkHeaderSize;
  detail::validate_header(message.header, available);
  message.body = std::string_view(
      reinterpret_cast<const char*>(netlink.payload.data()) + kProcslinkHeaderSize, available);
  return message;
}

// Writes the 40 header bytes for a datagram carrying `body_length` body bytes.
inline void encode_datagram_headers(const DatagramFields& fields, std::size_t body_length,
                                    std::uint8_t* out) {
  NetlinkMessageHeader nl;
  nl.length = static_cast<std::uint32_t>(kProcslinkHeaderSize + body_length);
  nl.seq = (fields.flag & kFlagFragment) != 0 ? fields.message_length : fields.seq;
  nl.pid = fields.sender_nl_pid;
  nl.encode(out);
  ProcslinkHeader pl;
  pl.flag = fields.flag;
  pl.length = static_cast<std::uint32_t>(body_length);
  pl.payload_type = static_cast<std::uint16_t>(fields.payload_type);
  pl.reserved = fields.reserved;
  pl.seq = fields.seq;
  pl.timestamp = fields.timestamp;
  pl.encode(out + kNetlinkHeaderSize);
}
// Builds a whole datagram (headers + body) in one buffer.
std::vector<std::uint8_t> build_datagram(const DatagramFields& fields, std::string_view body);

// Splits a body into the datagrams that carry it: one whole datagram when it fits in
// `max_datagram` bytes, otherwise fragments of at most `fragment_body` bytes each. Calls
// `emit(fields, chunk)` once per datagram, in order. Throws FramingError if more than 65536
// fragments would be needed.
void for_each_datagram(DatagramFields fields, std::string_view body, std::size_t max_datagram,
                       std::size_t fragment_body,
                       const std::function<void(const DatagramFields&, std::string_view)>& emit);
// The same for a body given as consecutive parts (a sender's text with large strings left
// where they are): each datagram's slice of the body is handed over as parts too, ready for
// a gathering send.
void for_each_datagram(
    DatagramFields fields, std::span<const std::string_view> body, std::size_t max_datagram,
    std::size_t fragment_body,
    const std::function<void(const DatagramFields&, std::span<const std::string_view>)>& emit);

namespace detail {
struct ReassemblyHooks;
}  // namespace detail

// Reassembles fragmented messages with bounded memory: at most `max_message` bytes per
// message, at most `max_pending_bytes` held per sender (received, or allocated for a length
// the sender announced), and incomplete messages are dropped after `timeout`. Fragments may
// arrive out of order or twice. Not thread-safe.
class FragmentReassembler {
 public:
  using Clock = std::chrono::steady_clock;

  struct Limits {
    std::size_t max_message = 256u << 20;
    std::size_t max_pending_bytes = 512u << 20;  // per sender
    std::size_t max_pending_messages = 16;       // per sender
    std::chrono::milliseconds timeout{10000};
    // All senders together. When a fragment would pass it, room is made fairly: the uid
    // holding the most gives way (within it, the sender holding the most), by its largest
    // incomplete message. A sender that is itself the largest holder of the largest uid has
    // its fragment refused instead, so a flood cannot push out a smaller holder's message.
    std::size_t max_total_bytes = 512u << 20;
  };
  // What the limits did so far.
  struct Stats {
    std::size_t completed = 0;         // messages reassembled
    std::size_t expired = 0;           // incomplete messages dropped after the timeout
    std::size_t dropped = 0;           // messages dropped for breaking a limit or the rules
    std::size_t evicted = 0;           // messages dropped to make room for another uid/sender
  };
  // A message dropped to make room for another sender's fragment (see Limits::max_total_bytes).
  struct Eviction {
    std::uint64_t sender;
    std::uint32_t uid;
    std::size_t bytes;
  };
  struct Complete {
    PayloadType payload_type = PayloadType::request;
    std::uint32_t seq;
    std::string body;
  };

  explicit FragmentReassembler(Limits limits);
  FragmentReassembler() : FragmentReassembler(Limits{}) {}
  ~FragmentReassembler();
  FragmentReassembler(FragmentReassembler&&) noexcept;
  FragmentReassembler& operator=(FragmentReassembler&&) noexcept;

  // Feeds one fragment from `sender` (any key identifying the sender, e.g. its nl_pid).
  // Returns the whole body when this fragment completes it. Throws FramingError when the
  // fragment breaks a limit or contradicts earlier fragments; the partial message is then
  // discarded so later fragments of it are rejected too.
  std::optional<Complete> add(std::uint64_t sender, const ProcslinkMessage& fragment,
                              Clock::time_point now = Clock::now()) {
    return add(sender, 0, fragment, now);
  }
  // The same, for a sender whose messages count towards `uid`'s share of max_total_bytes
  // (the kernel's word on who sent it). Without a uid, every sender counts as uid 0.
  std::optional<Complete> add(std::uint64_t sender, std::uint32_t uid,
                              const ProcslinkMessage& fragment, Clock::time_point now = Clock::now());
  // The messages dropped to make room since the last call (for a log line each).
  std::vector<Eviction> take_evictions();
  // Drops messages older than the timeout, and frees what they held; returns how many were
  // dropped.
  std::size_t expire(Clock::time_point now = Clock::now());
  // When the oldest incomplete message expires; nullopt when there is none.
  std::optional<Clock::time_point> next_expiry() const;
  const Stats& stats() const;
  const Limits& limits() const;
  // Bytes that dropped (expired, evicted or refused) messages have freed so far.
  std::size_t released_bytes() const;

  std::size_t pending_messages() const;
  // Bytes held by incomplete messages: for each, what arrived or the length allocated for it
  // on its sender's word, whichever is more.
  std::size_t pending_bytes() const;

 private:
  friend struct detail::ReassemblyHooks;  // the peer's: buffer reuse, landing in place
  struct State;  // src/fragment_reassembler.cpp
  std::unique_ptr<State> state_;
};

}  // namespace procslink
