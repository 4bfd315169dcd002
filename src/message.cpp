#include "procslink/message.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include "bulk_memory.hpp"
#include "procslink/byteorder.hpp"
#include "procslink/error.hpp"

namespace procslink {

using namespace detail;

void detail::throw_short_procslink_header(std::size_t size) {
  throw FramingError("netlink payload of " + std::to_string(size) +
                     " bytes is shorter than the 24-byte procslinkhdr");
}

void detail::throw_invalid_procslink_header(const ProcslinkHeader& h, std::size_t available) {
  if (h.version != kProcslinkVersion) {
    throw FramingError("unsupported procslink version " + std::to_string(h.version));
  }
  if (h.payload_type != static_cast<std::uint16_t>(PayloadType::request) &&
      h.payload_type != static_cast<std::uint16_t>(PayloadType::response)) {
    throw FramingError("unknown payload type " + std::to_string(h.payload_type));
  }
  if ((h.flag & ~kKnownFlags) != 0) {
    throw FramingError("unknown flag bits " + std::to_string(h.flag & ~kKnownFlags));
  }
  if ((h.flag & kFlagLastFragment) != 0 && (h.flag & kFlagFragment) == 0) {
    throw FramingError("last-fragment flag without fragment flag");
  }
  throw FramingError("procslinkhdr length says " + std::to_string(h.length) +
                     " body bytes but the datagram carries " + std::to_string(available));
}

ProcslinkMessage ProcslinkMessage::parse(ByteView headers, std::string_view body) {
  if (headers.size() != kDatagramHeadersSize) {
    throw FramingError("expected " + std::to_string(kDatagramHeadersSize) + " header bytes, got " +
                       std::to_string(headers.size()));
  }
  ProcslinkMessage message{NetlinkMessageHeader::decode(headers),
                           ProcslinkHeader::decode(headers.subspan(kNetlinkHeaderSize)), body};
  if (message.netlink.length != kProcslinkHeaderSize + body.size()) {
    throw_netlink_length_mismatch(message.netlink.length, kProcslinkHeaderSize + body.size());
  }
  validate_header(message.header, body.size());
  return message;
}

std::vector<std::uint8_t> build_datagram(const DatagramFields& fields, std::string_view body) {
  std::vector<std::uint8_t> out(kDatagramHeadersSize + body.size());
  encode_datagram_headers(fields, body.size(), out.data());
  body.copy(reinterpret_cast<char*>(out.data() + kDatagramHeadersSize), body.size());
  return out;
}

void for_each_datagram(DatagramFields fields, std::string_view body, std::size_t max_datagram,
                       std::size_t fragment_body,
                       const std::function<void(const DatagramFields&, std::string_view)>& emit) {
  const std::string_view whole[1] = {body};
  for_each_datagram(fields, whole, max_datagram, fragment_body,
                    [&](const DatagramFields& f, std::span<const std::string_view> chunk) {
                      emit(f, chunk.empty() ? std::string_view() : chunk.front());
                    });
}

void for_each_datagram(
    DatagramFields fields, std::span<const std::string_view> body, std::size_t max_datagram,
    std::size_t fragment_body,
    const std::function<void(const DatagramFields&, std::span<const std::string_view>)>& emit) {
  std::size_t size = 0;
  for (const std::string_view part : body) size += part.size();
  if (kDatagramHeadersSize + size <= max_datagram) {
    fields.flag = 0;
    fields.reserved = 0;
    emit(fields, body);
    return;
  }
  if (fragment_body == 0) throw FramingError("fragment size must be positive");
  const std::size_t count = (size + fragment_body - 1) / fragment_body;
  if (count > 65536) {
    throw FramingError("message of " + std::to_string(size) +
                       " bytes needs more than 65536 fragments");
  }
  fields.message_length =
      size <= std::numeric_limits<std::uint32_t>::max() ? static_cast<std::uint32_t>(size) : 0;
  std::vector<std::string_view> chunk;
  std::size_t part = 0, offset = 0;  // where the next fragment starts
  for (std::size_t i = 0; i < count; ++i) {
    chunk.clear();
    for (std::size_t want = fragment_body; want > 0 && part < body.size();) {
      const std::string_view rest = body[part].substr(offset);
      const std::size_t take = std::min(want, rest.size());
      if (take > 0) chunk.push_back(rest.substr(0, take));
      want -= take;
      offset += take;
      if (offset == body[part].size()) {
        ++part;
        offset = 0;
      }
    }
    fields.flag = kFlagFragment | (i + 1 == count ? kFlagLastFragment : 0);
    fields.reserved = static_cast<std::uint16_t>(i);
    emit(fields, chunk);
  }
}

std::optional<FragmentReassembler::Complete> FragmentReassembler::add(
    std::uint64_t sender_key, std::uint32_t uid, const ProcslinkMessage& fragment,
    Clock::time_point now) {
  const ProcslinkHeader& h = fragment.header;
  if (!h.is_fragment()) throw FramingError("not a fragment");
  if (auto known = senders_.find(sender_key);
      known != senders_.end() && !known->second.messages.contains(h.seq) &&
      known->second.messages.size() >= limits_.max_pending_messages) {
    expire(now);  // before taking references below: it may erase this very sender's entry
  }
  auto [sender_it, fresh_sender] = senders_.try_emplace(sender_key);
  Sender& sender = sender_it->second;
  if (fresh_sender) sender.uid = uid;
  auto it = sender.messages.find(h.seq);
  auto discard = [&](const std::string& why) {
    poison(sender, it->second);
    ++stats_.dropped;
    throw FramingError("fragmented message seq " + std::to_string(h.seq) + " dropped: " + why);
  };
  if (it == sender.messages.end()) {
    if (sender.messages.size() >= limits_.max_pending_messages) {
      if (sender.messages.empty()) senders_.erase(sender_it);
      throw FramingError("too many incomplete fragmented messages from one sender");
    }
    it = sender.messages.emplace(h.seq, start_message(sender, fragment, now)).first;
  }
  Partial& partial = it->second;
  if (partial.poisoned) throw FramingError("fragment of a dropped message");
  if (partial.payload_type != fragment.payload_type()) discard("payload type changed");
  const std::uint32_t index = h.reserved;
  const bool last = (h.flag & kFlagLastFragment) != 0;
  if (last) {
    if (partial.last_index && *partial.last_index != index) discard("two last fragments");
    partial.last_index = index;
  }
  if (partial.last_index && (index > *partial.last_index ||
                             partial.highest_index() > std::int64_t{*partial.last_index})) {
    discard("fragment after the last one");
  }
  if (index < partial.next || partial.early.count(index) != 0) return std::nullopt;  // duplicate
  if (partial.bytes + fragment.body.size() > limits_.max_message) {
    discard("larger than the " + std::to_string(limits_.max_message) + "-byte message limit");
  }
  const std::size_t held_before = partial.held();
  const std::size_t held_after = std::max(partial.bytes + fragment.body.size(), partial.reserved);
  if (sender.bytes - held_before + held_after > limits_.max_pending_bytes) {
    discard("sender exceeds " + std::to_string(limits_.max_pending_bytes) +
            " bytes of incomplete messages");
  }
  if (!make_room(sender_it, held_after - held_before)) {
    discard("the " + std::to_string(limits_.max_total_bytes) +
            "-byte budget for incomplete messages is full and this sender holds the most");
  }
  partial.bytes += fragment.body.size();
  charge(sender, static_cast<std::ptrdiff_t>(held_after - held_before));
  // Fragments arriving in order, the usual case, go straight into the body: one copy each.
  if (index == partial.next) {
    partial.append(fragment.body);
    for (auto e = partial.early.begin(); e != partial.early.end() && e->first == partial.next;
         e = partial.early.erase(e)) {
      partial.append(e->second);
    }
  } else {
    partial.early.emplace(static_cast<std::uint16_t>(index), std::string(fragment.body));
  }
  if (!partial.last_index || partial.next != std::uint32_t{*partial.last_index} + 1u) {
    return std::nullopt;
  }
  partial.body.resize(partial.filled);  // a shrink: writes only the terminating NUL
  Complete complete{partial.payload_type, h.seq, std::move(partial.body)};
  charge(sender, -static_cast<std::ptrdiff_t>(partial.held()));
  sender.messages.erase(it);
  if (sender.messages.empty()) senders_.erase(sender_it);
  ++stats_.completed;
  return complete;
}

FragmentReassembler::Partial FragmentReassembler::start_message(Sender& sender,
                                                                const ProcslinkMessage& fragment,
                                                                Clock::time_point now) {
  Partial fresh;
  fresh.body.swap(spare_);  // its bytes are room to fill, not content
  fresh.payload_type = fragment.payload_type();
  fresh.started = now;
  // The whole length the sender announced: allocated at once, not grown by doubling (which
  // copies, and faults in twice the pages). A hint only, within the limits: the fragments
  // still decide where the message ends. The room counts as held, like received bytes, so
  // announced lengths cannot make a sender's messages take more than max_pending_bytes, nor
  // all of them more than max_total_bytes (the room is only taken where it fits).
  if (const std::size_t announced = fragment.netlink.seq;
      announced > fresh.body.capacity() && announced <= limits_.max_message &&
      sender.bytes + announced <= limits_.max_pending_bytes &&
      total_bytes_ + announced <= limits_.max_total_bytes) {
    try {
      fresh.body.clear();  // nothing in it to carry over
      detail::reserve_bulk(fresh.body, announced);
      fresh.reserved = announced;
      charge(sender, static_cast<std::ptrdiff_t>(announced));
    } catch (const std::bad_alloc&) {
      // grown as the fragments come, like a message without the hint
    }
  }
  return fresh;
}

void FragmentReassembler::charge(Sender& sender, std::ptrdiff_t delta) {
  const auto change = [delta](std::size_t& held) { held = static_cast<std::size_t>(
                                                       static_cast<std::ptrdiff_t>(held) + delta); };
  change(sender.bytes);
  change(total_bytes_);
  auto uid = uid_bytes_.find(sender.uid);
  if (uid == uid_bytes_.end()) uid = uid_bytes_.emplace(sender.uid, 0).first;
  change(uid->second);
  if (uid->second == 0) uid_bytes_.erase(uid);
}

void FragmentReassembler::poison(Sender& sender, Partial& partial) {
  released_ += partial.held();
  charge(sender, -static_cast<std::ptrdiff_t>(partial.held()));
  std::string().swap(partial.body);  // assigning an empty string would keep the capacity
  partial.early.clear();
  partial.filled = 0;
  partial.bytes = 0;
  partial.reserved = 0;
  partial.poisoned = true;  // kept (empty) until it expires so its tail is refused too
}

bool FragmentReassembler::make_room(SenderMap::iterator requester, std::size_t need) {
  while (total_bytes_ + need > limits_.max_total_bytes) {
    // The uid holding the most gives way; on a tie, the requester's own.
    std::uint32_t uid = requester->second.uid;
    std::size_t most = 0;
    if (auto own = uid_bytes_.find(uid); own != uid_bytes_.end()) most = own->second;
    for (const auto& [other, held] : uid_bytes_) {
      if (held > most) uid = other, most = held;
    }
    const SenderMap::iterator victim = largest_holder(uid, requester);
    if (victim == requester || victim == senders_.end()) return false;
    auto largest = victim->second.messages.begin();
    for (auto m = largest; m != victim->second.messages.end(); ++m) {
      if (m->second.held() > largest->second.held()) largest = m;
    }
    evictions_.push_back({victim->first, victim->second.uid, largest->second.held()});
    poison(victim->second, largest->second);
    ++stats_.evicted;
  }
  return true;
}

FragmentReassembler::SenderMap::iterator FragmentReassembler::largest_holder(
    std::uint32_t uid, SenderMap::iterator requester) {
  SenderMap::iterator largest = senders_.end();
  if (requester->second.uid == uid) largest = requester;  // on a tie, the requester
  for (auto s = senders_.begin(); s != senders_.end(); ++s) {
    if (s->second.uid != uid || s->second.bytes == 0) continue;
    if (largest == senders_.end() || s->second.bytes > largest->second.bytes) largest = s;
  }
  return largest;
}

void FragmentReassembler::recycle(std::string&& body) {
  if (body.capacity() <= spare_.capacity() ||
      body.capacity() > std::max(kKeptCapacity, 2 * limits_.max_message)) {
    return;
  }
  // Its size is kept: the next message's fragments are then received straight into it (see
  // landing_room); std::string could not be written past its size without zeroing it first.
  // Its bytes may read as zeros once the kernel takes the pages back: they are never read, and
  // the terminating NUL reads the same.
  if (body.capacity() > kKeptCapacity) detail::release_lazily(body.data(), body.capacity());
  spare_.swap(body);
}

char* FragmentReassembler::landing_room(std::uint64_t sender_key, std::uint32_t seq,
                                        std::uint16_t index, std::size_t length) {
  const auto sender = senders_.find(sender_key);
  if (sender == senders_.end()) return nullptr;
  const auto it = sender->second.messages.find(seq);
  if (it == sender->second.messages.end()) return nullptr;
  Partial& partial = it->second;
  if (partial.poisoned || index != partial.next || partial.body.size() < partial.filled ||
      partial.body.size() - partial.filled < length) {
    return nullptr;
  }
  return partial.body.data() + partial.filled;
}

std::int64_t FragmentReassembler::Partial::highest_index() const {
  std::int64_t highest = std::int64_t{next} - 1;
  if (!early.empty()) highest = std::max<std::int64_t>(highest, early.rbegin()->first);
  return highest;
}

void FragmentReassembler::Partial::append(std::string_view chunk) {
  if (chunk.data() == body.data() + filled) {
    // Received in place (landing_room): nothing to copy.
  } else if (body.size() - filled >= chunk.size()) {
    std::memcpy(body.data() + filled, chunk.data(), chunk.size());
  } else {
    body.resize(filled);
    // Doubling keeps appends amortized O(1); reserve_bulk asks for huge pages once it is large.
    if (filled + chunk.size() > body.capacity()) {
      detail::reserve_bulk(body, std::max(filled + chunk.size(), 2 * body.capacity()));
    }
    body.append(chunk);
  }
  filled += chunk.size();
  ++next;
}

std::size_t FragmentReassembler::expire(Clock::time_point now) {
  std::size_t dropped = 0;
  for (auto s = senders_.begin(); s != senders_.end();) {
    auto& messages = s->second.messages;
    for (auto m = messages.begin(); m != messages.end();) {
      if (now - m->second.started >= limits_.timeout) {
        released_ += m->second.held();
        charge(s->second, -static_cast<std::ptrdiff_t>(m->second.held()));
        if (!m->second.poisoned) ++dropped;
        m = messages.erase(m);
      } else {
        ++m;
      }
    }
    s = messages.empty() ? senders_.erase(s) : std::next(s);
  }
  stats_.expired += dropped;
  return dropped;
}

std::optional<FragmentReassembler::Clock::time_point> FragmentReassembler::next_expiry() const {
  std::optional<Clock::time_point> first;
  for (const auto& [key, sender] : senders_) {
    for (const auto& [seq, partial] : sender.messages) {
      if (!first || partial.started < *first) first = partial.started;
    }
  }
  if (first) *first += limits_.timeout;
  return first;
}

std::size_t FragmentReassembler::pending_messages() const {
  std::size_t n = 0;
  for (const auto& [key, sender] : senders_) n += sender.messages.size();
  return n;
}

std::size_t FragmentReassembler::pending_bytes() const { return total_bytes_; }

}  // namespace procslink
