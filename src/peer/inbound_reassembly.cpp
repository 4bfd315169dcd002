// inbound_reassembly.cpp - adding fragments under the reassembler's lock, logging what the
// budget drops, landing fragments in place, and a long string at its buffer's front.
#include "inbound_reassembly.hpp"

#include <algorithm>
#include <memory>
#include <span>

#include "../json_reader.hpp"
#include "../jsonrpc_text.hpp"
#include "../reassembly_hooks.hpp"
#include "../socket_receive.hpp"
#include "procslink/log.hpp"

namespace procslink::detail {
namespace {

FragmentReassembler::Limits limits_for(const PeerOptions& options) {
  FragmentReassembler::Limits limits;
  limits.max_message = options.max_message_size;
  limits.max_pending_bytes = 2 * options.max_message_size;
  limits.timeout = options.reassembly_timeout;
  limits.max_total_bytes = options.reassembly_budget != 0 ? options.reassembly_budget
                                                          : 2 * options.max_message_size;
  return limits;
}

}  // namespace

InboundReassembly::InboundReassembly(const PeerOptions& options)
    : reassembler_(limits_for(options)) {}

InboundReassembly::Added InboundReassembly::add(const Incoming& incoming,
                                                const ProcslinkMessage& fragment) {
  const ReceivedDatagram& d = incoming.datagram;
  const std::uint64_t key = sender_key(incoming.endpoint, d.sender_nl_pid);
  Added added;
  const std::optional<OpenStringAt> split = split_point(fragment);  // outside the lock
  std::lock_guard lock(mutex_);
  if (!add_locked(key, fragment, d.sender_nl_pid, d.credentials, added.complete, split)) {
    return added;
  }
  // Without room for the next fragment, peeking at it would be wasted.
  const auto next_index = static_cast<std::uint16_t>(fragment.header.reserved + 1u);
  added.room_behind =
      !added.complete && incoming.exclusive && more_fragments_follow(d.bytes) &&
      ReassemblyHooks::landing_room(reassembler_, key, fragment.header.seq, next_index, 1) !=
          nullptr;
  return added;
}

bool InboundReassembly::add_locked(std::uint64_t key, const ProcslinkMessage& fragment,
                                   std::uint32_t sender, const Credentials& credentials,
                                   std::optional<Complete>& complete,
                                   const std::optional<OpenStringAt>& split) {
  bool added = true;
  try {
    if (split) ReassemblyHooks::split_next(reassembler_, split->content, split->clean);
    auto done = reassembler_.add(key, static_cast<std::uint32_t>(credentials.uid), fragment);
    if (done) {
      complete.emplace(Complete{done->payload_type, std::move(done->body), {}, 0});
      if (auto split = ReassemblyHooks::take_split(reassembler_)) {
        complete->head = std::move(split->head);
        complete->checked = split->checked;
        ++split_messages_;
      }
    } else if (fragment.header.reserved != 0) {
      check_landed_locked(key, fragment.header.seq);
    }
  } catch (const FramingError& e) {
    log(LogLevel::warning, "dropped fragment from ", describe_sender(sender, credentials), ": ",
        e.what());
    added = false;
  }
  if (const auto evicted = reassembler_.take_evictions(); !evicted.empty()) {
    log_evictions_locked(evicted, credentials);
  }
  if (!complete) reaper_.poke_locked();  // what is left incomplete expires on time
  return added;
}

std::optional<OpenStringAt> InboundReassembly::split_point(const ProcslinkMessage& fragment) {
  const ProcslinkHeader& h = fragment.header;
  if (h.reserved != 0 || (h.flag & kFlagLastFragment) != 0 || fragment.netlink.seq < kAdoptMin) {
    return std::nullopt;  // not the first of several fragments, or announced as short
  }
  return string_running_on(fragment.body);
}

void InboundReassembly::check_landed_locked(std::uint64_t key, std::uint32_t seq) {
  const ReassemblyHooks::SplitBuffer buffer = ReassemblyHooks::split_buffer(reassembler_, key, seq);
  if (buffer.split == nullptr) return;
  // Up to the first byte that is not clean: once the string ends (or needs an escape), each
  // later look stops there at once. A UTF-8 sequence the last fragment cut is looked at again.
  buffer.split->checked = clean_prefix(buffer.filled, buffer.split->checked, buffer.filled.size());
}

// A line for the first message dropped to make room, then one a second at most (counting
// those in between): a flood makes room by the thousand.
void InboundReassembly::log_evictions_locked(
    const std::vector<FragmentReassembler::Eviction>& evicted, const Credentials& credentials) {
  unlogged_evictions_ += evicted.size();
  const auto now = Clock::now();
  if (now - last_eviction_log_ < std::chrono::seconds(1)) return;
  last_eviction_log_ = now;
  const auto& last = evicted.back();
  log(LogLevel::warning, "reassembly budget full: dropped ", unlogged_evictions_,
      " incomplete message(s), the last one of ", last.bytes, " bytes from nl_pid ",
      static_cast<std::uint32_t>(last.sender), " (uid ", last.uid, "), for uid ",
      credentials.uid, " that holds less");
  unlogged_evictions_ = 0;
}

namespace {

// Where a datagram other than the expected fragment spills when a receive aims at a message's
// room: as large as any datagram, allocated on a thread's first landing and written to only
// by such a datagram.
std::span<std::uint8_t> spill_room() {
  thread_local std::unique_ptr<std::uint8_t[]> room;
  if (!room) room.reset(new std::uint8_t[kMaxDatagramSize]);
  return {room.get(), kMaxDatagramSize};
}

// Whether a datagram received with its body aimed at `room` is that room's fragment: from
// `sender`, of message `seq`, the index expected next, its body wholly in the room.
bool is_expected_fragment(const ScatteredDatagram& got, std::span<const std::uint8_t> headers,
                          std::uint32_t sender, std::uint32_t seq,
                          const ReassemblyHooks::Room& room) {
  if (got.sender_nl_pid != sender || got.length <= kDatagramHeadersSize ||
      got.length - kDatagramHeadersSize > room.length) {
    return false;
  }
  const ProcslinkHeader header = ProcslinkHeader::decode(headers.subspan(kNetlinkHeaderSize));
  return header.seq == seq && header.is_fragment() && header.reserved == room.index;
}

}  // namespace

InboundReassembly::Landed InboundReassembly::land(const NetlinkSocket& socket,
                                                  std::size_t endpoint, std::uint32_t sender,
                                                  std::uint32_t seq, Origin& origin) {
  Clock::time_point waiting_since = kUnknownTime;
  for (;;) {
    Step step = land_one(socket, endpoint, sender, seq, origin);
    if (step.complete || (step.stop && !step.queue_empty)) {
      return {std::move(step.complete), std::move(step.stray)};
    }
    if (!step.queue_empty) {
      waiting_since = kUnknownTime;  // one landed: the next may be queued already
      continue;
    }
    // The sender is in the middle of the message: its next fragment is a few microseconds
    // away. Looking again for a while costs this thread less than sleeping would cost both
    // (the sender would wake it for each fragment).
    const Clock::time_point now = Clock::now();
    if (waiting_since == kUnknownTime) {
      waiting_since = now;
    } else if (now - waiting_since >= kLandingPatience) {
      return {};
    }
  }
}

InboundReassembly::Step InboundReassembly::land_one(const NetlinkSocket& socket,
                                                    std::size_t endpoint, std::uint32_t sender,
                                                    std::uint32_t seq, Origin& origin) {
  const std::uint64_t key = sender_key(endpoint, sender);
  Headers headers;
  Step step;
  step.stop = true;
  std::lock_guard lock(mutex_);
  const ReassemblyHooks::Room room = ReassemblyHooks::next_room(reassembler_, key, seq);
  if (room.length == 0) return step;
  // The headers apart, the body in the room, and whatever is longer than the room spills.
  const std::span<std::uint8_t> spill = spill_room();
  iovec iov[3] = {{headers.data(), headers.size()},
                  {room.at, room.length},
                  {spill.data(), spill.size()}};
  const std::optional<ScatteredDatagram> got =
      receive_datagram(socket.fd(), iov, MSG_DONTWAIT);
  if (!got) {
    step.queue_empty = true;
    return step;
  }
  if (!is_expected_fragment(*got, headers, sender, seq, room)) {
    step.stray = take_stray(*got, headers, room, spill);
    return step;
  }
  const std::size_t length = got->length - kDatagramHeadersSize;
  try {
    const ProcslinkMessage message =
        ProcslinkMessage::parse(headers, std::string_view(room.at, length));
    if (message.netlink.pid != sender) throw FramingError("nl_pid in the header differs");
    if (!add_locked(key, message, sender, got->credentials, step.complete)) return step;
    ++landed_fragments_;
  } catch (const FramingError& e) {
    log(LogLevel::warning, "dropped fragment from ", describe_sender(sender, got->credentials),
        ": ", e.what());
    return step;
  }
  origin.credentials = got->credentials;
  step.stop = false;
  return step;
}

// A datagram that came instead of the room's fragment, copied out of the room and the spill
// in one piece, to be handled as if received the usual way; nullopt (logged) if it was cut.
std::optional<InboundReassembly::Stray> InboundReassembly::take_stray(
    const ScatteredDatagram& got, const Headers& headers, const ReassemblyHooks::Room& room,
    std::span<const std::uint8_t> spill) {
  const std::size_t capacity = headers.size() + room.length + spill.size();
  if (got.length > capacity) {
    log(LogLevel::warning, "dropped a ", got.length, "-byte datagram from nl_pid ",
        got.sender_nl_pid, ": longer than any receive buffer");
    return std::nullopt;
  }
  std::vector<std::uint8_t> bytes(headers.begin(),
                                  headers.begin() + std::min(got.length, headers.size()));
  std::size_t left = got.length - bytes.size();
  const auto* in_room = reinterpret_cast<const std::uint8_t*>(room.at);
  const std::size_t from_room = std::min(left, room.length);
  bytes.insert(bytes.end(), in_room, in_room + from_room);
  left -= from_room;
  bytes.insert(bytes.end(), spill.begin(), spill.begin() + static_cast<std::ptrdiff_t>(left));
  return Stray{got.sender_nl_pid, got.credentials, std::move(bytes)};
}

void InboundReassembly::recycle(std::string&& body) {
  std::lock_guard lock(mutex_);
  ReassemblyHooks::recycle(reassembler_, std::move(body));
}

json InboundReassembly::stats() {
  std::lock_guard lock(mutex_);
  const FragmentReassembler::Stats& done = reassembler_.stats();
  return {{"pending_messages", reassembler_.pending_messages()},
          {"pending_bytes", reassembler_.pending_bytes()},
          {"budget_bytes", reassembler_.limits().max_total_bytes},
          {"completed", done.completed},
          {"expired", done.expired},
          {"dropped", done.dropped},
          {"evicted", done.evicted},
          {"landed_fragments", landed_fragments_},
          {"split_messages", split_messages_}};
}

}  // namespace procslink::detail
