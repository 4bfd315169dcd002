// inbound_reassembly.cpp - adding fragments under the reassembler's lock, logging what the
// budget drops, and landing fragments in place.
#include "inbound_reassembly.hpp"

#include <algorithm>

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
  std::lock_guard lock(mutex_);
  if (!add_locked(key, fragment, d.sender_nl_pid, d.credentials, added.complete)) return added;
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
                                   std::optional<Complete>& complete) {
  bool added = true;
  try {
    complete = reassembler_.add(key, static_cast<std::uint32_t>(credentials.uid), fragment);
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

InboundReassembly::Landed InboundReassembly::land(const NetlinkSocket& socket,
                                                  std::size_t endpoint, std::uint32_t sender,
                                                  std::uint32_t seq, Origin& origin) {
  Headers peeked_bytes;
  for (;;) {
    const std::optional<PeekedDatagram> peeked = peek(socket, peeked_bytes);
    // One longer than any receive buffer is left to the usual receive, which drops it.
    if (!peeked || peeked->sender_nl_pid != sender || peeked->length <= kDatagramHeadersSize ||
        peeked->length > kMaxDatagramSize || !more_fragments_follow(peeked->head)) {
      return {};
    }
    // Which fragment it says it is; the parse in land_one checks everything once in place.
    const ProcslinkHeader next = ProcslinkHeader::decode(peeked->head.subspan(kNetlinkHeaderSize));
    if (next.seq != seq) return {};
    Step step = land_one(socket, endpoint, sender, seq, peeked_bytes, peeked->length, origin);
    if (step.stop || step.complete) return {std::move(step.complete), std::move(step.stray)};
  }
}

InboundReassembly::Step InboundReassembly::land_one(const NetlinkSocket& socket,
                                                    std::size_t endpoint, std::uint32_t sender,
                                                    std::uint32_t seq, const Headers& peeked,
                                                    std::size_t peeked_length, Origin& origin) {
  const std::size_t length = peeked_length - kDatagramHeadersSize;
  const std::uint16_t index =
      ProcslinkHeader::decode(std::span<const std::uint8_t>(peeked).subspan(kNetlinkHeaderSize))
          .reserved;
  const std::uint64_t key = sender_key(endpoint, sender);
  Headers headers;
  Step step;
  step.stop = true;
  std::lock_guard lock(mutex_);
  char* room = ReassemblyHooks::landing_room(reassembler_, key, seq, index, length);
  if (room == nullptr) return step;
  const std::span<std::uint8_t> body(reinterpret_cast<std::uint8_t*>(room), length);
  const std::optional<ScatteredDatagram> got = receive_scattered(socket, headers, body, false);
  if (!got) return step;
  if (got->sender_nl_pid != sender || got->length != peeked_length || headers != peeked) {
    // A datagram other than the one peeked at (a race): handed back whole, if it fits here.
    const std::size_t kept = std::min(got->length, headers.size() + length);
    std::vector<std::uint8_t> stray(headers.begin(),
                                    headers.begin() + std::min(kept, headers.size()));
    if (kept > headers.size()) {
      stray.insert(stray.end(), body.begin(), body.begin() + (kept - headers.size()));
    }
    if (got->length > kept) {  // cut off: cannot be framed
      log(LogLevel::warning, "dropped a ", got->length, "-byte datagram from nl_pid ",
          got->sender_nl_pid, ": it changed under a peek");
    } else {
      step.stray = Stray{got->sender_nl_pid, got->credentials, std::move(stray)};
    }
    return step;
  }
  try {
    const ProcslinkMessage message =
        ProcslinkMessage::parse(headers, std::string_view(room, length));
    if (message.netlink.pid != sender) throw FramingError("nl_pid in the header differs");
    if (!add_locked(key, message, sender, got->credentials, step.complete)) return step;
  } catch (const FramingError& e) {
    log(LogLevel::warning, "dropped fragment from ", describe_sender(sender, got->credentials),
        ": ", e.what());
    return step;
  }
  origin.credentials = got->credentials;
  step.stop = false;
  return step;
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
          {"evicted", done.evicted}};
}

}  // namespace procslink::detail
