// fragment_reassembler.cpp - FragmentReassembler: fragments to whole messages within the
// limits, fairly between uids and senders; and the hooks the peer uses to reuse a large
// message's buffer and to receive fragments straight into it (reassembly_hooks.hpp).
#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <new>
#include <string>
#include <vector>

#include "bulk_memory.hpp"
#include "procslink/error.hpp"
#include "procslink/message.hpp"
#include "reassembly_hooks.hpp"

namespace procslink {

// The reassembler's state and its workings, kept out of the public header.
struct FragmentReassembler::State {
  static constexpr std::size_t kKeptCapacity = detail::ReassemblyHooks::kKeptCapacity;
  // Room allocated beyond an announced length, and kept for landing beyond a recycled body's
  // length: the next messages of a stream are often a few bytes longer (an id with one more
  // digit), and a buffer without room for them is replaced by a fresh one, whose pages then
  // fault in (on a virtual machine a 1 MiB message took 8 ms instead of 0.3 ms that way).
  static constexpr std::size_t kSlack = 4096;

  struct Partial {
    PayloadType payload_type = PayloadType::request;
    Clock::time_point started;
    std::string body;  // fragments 0 .. next-1, in order, in its first `filled` bytes; the
                       // bytes after them are room for the next fragments
    std::size_t filled = 0;
    std::uint32_t next = 0;
    std::map<std::uint16_t, std::string> early;  // arrived before fragment `next`
    std::size_t bytes = 0;     // received
    std::size_t reserved = 0;  // allocated for the announced length
    std::optional<std::uint16_t> last_index;
    bool poisoned = false;  // broke a limit: its remaining fragments are refused
    std::optional<detail::ReassemblyHooks::Split> split;  // its first bytes, kept apart

    std::int64_t highest_index() const;  // -1 when nothing arrived
    std::size_t held() const { return bytes > reserved ? bytes : reserved; }
    void append(std::string_view chunk);
  };
  using MessageMap = std::map<std::uint32_t, Partial>;  // by seq
  struct Sender {
    MessageMap messages;
    std::size_t bytes = 0;
    std::uint32_t uid = 0;
  };
  using SenderMap = std::map<std::uint64_t, Sender>;

  explicit State(Limits limits) : limits_(limits) {}

  std::optional<Complete> add(std::uint64_t sender, std::uint32_t uid,
                              const ProcslinkMessage& fragment, Clock::time_point now);
  std::size_t expire(Clock::time_point now);
  std::optional<Clock::time_point> next_expiry() const;
  std::size_t pending_messages() const;
  std::size_t pending_bytes() const;
  void recycle(std::string&& body);
  bool release_spare();
  char* landing_room(std::uint64_t sender, std::uint32_t seq, std::uint16_t index,
                     std::size_t length);
  detail::ReassemblyHooks::Room next_room(std::uint64_t sender, std::uint32_t seq);
  Partial* find(std::uint64_t sender, std::uint32_t seq);
  // Appends fragment 0's body to a new message, split as split_next() asked.
  void append_split(Partial& partial, std::string_view body, std::size_t at, std::size_t checked);

  // The sender's entry and the fragment's message, started if it is new.
  std::pair<SenderMap::iterator, MessageMap::iterator> message_for(
      std::uint64_t sender_key, std::uint32_t uid, const ProcslinkMessage& fragment,
      Clock::time_point now);
  // Checks the fragment against what its message's earlier fragments said; false for a
  // duplicate. A contradiction drops the message (discard).
  bool in_order(Sender& sender, Partial& partial, const ProcslinkMessage& fragment);
  // Counts the fragment's bytes, within every limit (making room in the budget if need be).
  void take_bytes(SenderMap::iterator sender, Partial& partial, const ProcslinkMessage& fragment);
  Complete finish(SenderMap::iterator sender, MessageMap::iterator message);
  // Drops the message and throws FramingError saying why.
  [[noreturn]] void discard(Sender& sender, Partial& partial, std::uint32_t seq,
                            const std::string& why);
  Partial start_message(Sender& sender, const ProcslinkMessage& fragment, Clock::time_point now);
  // Adds `delta` (may be negative) to what `sender` holds, and to its uid's and the total.
  void charge(Sender& sender, std::ptrdiff_t delta);
  // Frees a message's bytes and refuses its remaining fragments until it expires.
  void poison(Sender& sender, Partial& partial);
  // Makes room for `need` more bytes from `requester` by evicting other holders' messages
  // (Limits::max_total_bytes). False when the requester is the one that has to give way.
  bool make_room(SenderMap::iterator requester, std::size_t need);
  SenderMap::iterator largest_holder(std::uint32_t uid, SenderMap::iterator requester);

  Limits limits_;
  SenderMap senders_;
  std::map<std::uint32_t, std::size_t> uid_bytes_;  // what each uid's senders hold
  std::size_t total_bytes_ = 0;
  std::size_t released_ = 0;
  Stats stats_;
  std::vector<Eviction> evictions_;
  std::string spare_;  // a recycled body, empty but with its capacity
  bool spare_released_ = false;  // its pages were given back lazily since it was recycled
  std::optional<detail::ReassemblyHooks::Split> finished_split_;  // the last completed one's
  struct SplitNext {
    std::size_t at = 0;
    std::size_t checked = 0;
  };
  std::optional<SplitNext> split_next_;  // for the next add() (ReassemblyHooks::split_next)
};

FragmentReassembler::FragmentReassembler(Limits limits)
    : state_(std::make_unique<State>(limits)) {}
FragmentReassembler::~FragmentReassembler() = default;
FragmentReassembler::FragmentReassembler(FragmentReassembler&&) noexcept = default;
FragmentReassembler& FragmentReassembler::operator=(FragmentReassembler&&) noexcept = default;

std::optional<FragmentReassembler::Complete> FragmentReassembler::add(
    std::uint64_t sender, std::uint32_t uid, const ProcslinkMessage& fragment,
    Clock::time_point now) {
  return state_->add(sender, uid, fragment, now);
}
std::vector<FragmentReassembler::Eviction> FragmentReassembler::take_evictions() {
  return std::exchange(state_->evictions_, {});
}
std::size_t FragmentReassembler::expire(Clock::time_point now) { return state_->expire(now); }
std::optional<FragmentReassembler::Clock::time_point> FragmentReassembler::next_expiry() const {
  return state_->next_expiry();
}
const FragmentReassembler::Stats& FragmentReassembler::stats() const { return state_->stats_; }
const FragmentReassembler::Limits& FragmentReassembler::limits() const {
  return state_->limits_;
}
std::size_t FragmentReassembler::released_bytes() const { return state_->released_; }
std::size_t FragmentReassembler::pending_messages() const { return state_->pending_messages(); }
std::size_t FragmentReassembler::pending_bytes() const { return state_->pending_bytes(); }

void detail::ReassemblyHooks::recycle(FragmentReassembler& reassembler, std::string&& body) {
  reassembler.state_->recycle(std::move(body));
}
bool detail::ReassemblyHooks::release_spare(FragmentReassembler& reassembler) {
  return reassembler.state_->release_spare();
}

char* detail::ReassemblyHooks::landing_room(FragmentReassembler& reassembler,
                                            std::uint64_t sender, std::uint32_t seq,
                                            std::uint16_t index, std::size_t length) {
  return reassembler.state_->landing_room(sender, seq, index, length);
}
detail::ReassemblyHooks::Room detail::ReassemblyHooks::next_room(FragmentReassembler& reassembler,
                                                                 std::uint64_t sender,
                                                                 std::uint32_t seq) {
  return reassembler.state_->next_room(sender, seq);
}

void detail::ReassemblyHooks::split_next(FragmentReassembler& reassembler, std::size_t at,
                                         std::size_t checked) {
  reassembler.state_->split_next_ = {at, checked};
}
detail::ReassemblyHooks::SplitBuffer detail::ReassemblyHooks::split_buffer(
    FragmentReassembler& reassembler, std::uint64_t sender, std::uint32_t seq) {
  auto* partial = reassembler.state_->find(sender, seq);
  if (partial == nullptr || !partial->split) return {};
  return {&*partial->split, std::string_view(partial->body.data(), partial->filled)};
}
std::optional<detail::ReassemblyHooks::Split> detail::ReassemblyHooks::take_split(
    FragmentReassembler& reassembler) {
  return std::exchange(reassembler.state_->finished_split_, std::nullopt);
}

std::optional<FragmentReassembler::Complete> FragmentReassembler::State::add(
    std::uint64_t sender_key, std::uint32_t uid, const ProcslinkMessage& fragment,
    Clock::time_point now) {
  const ProcslinkHeader& h = fragment.header;
  const std::optional<SplitNext> split = std::exchange(split_next_, std::nullopt);
  if (!h.is_fragment()) throw FramingError("not a fragment");
  const auto [sender, message] = message_for(sender_key, uid, fragment, now);
  Partial& partial = message->second;
  if (partial.poisoned) throw FramingError("fragment of a dropped message");
  if (!in_order(sender->second, partial, fragment)) return std::nullopt;  // a duplicate
  take_bytes(sender, partial, fragment);
  // Fragments arriving in order, the usual case, go straight into the body: one copy each.
  const std::uint32_t index = h.reserved;
  if (split && index == 0 && partial.next == 0 && partial.early.empty() &&
      split->at <= fragment.body.size()) {
    append_split(partial, fragment.body, split->at, split->checked);
  } else if (index == partial.next) {
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
  return finish(sender, message);
}

std::pair<FragmentReassembler::State::SenderMap::iterator,
          FragmentReassembler::State::MessageMap::iterator>
FragmentReassembler::State::message_for(std::uint64_t sender_key, std::uint32_t uid,
                                        const ProcslinkMessage& fragment, Clock::time_point now) {
  const std::uint32_t seq = fragment.header.seq;
  if (auto known = senders_.find(sender_key);
      known != senders_.end() && !known->second.messages.contains(seq) &&
      known->second.messages.size() >= limits_.max_pending_messages) {
    expire(now);  // before taking iterators below: it may erase this very sender's entry
  }
  auto [sender_it, fresh_sender] = senders_.try_emplace(sender_key);
  Sender& sender = sender_it->second;
  if (fresh_sender) sender.uid = uid;
  auto it = sender.messages.find(seq);
  if (it == sender.messages.end()) {
    if (sender.messages.size() >= limits_.max_pending_messages) {
      if (sender.messages.empty()) senders_.erase(sender_it);
      throw FramingError("too many incomplete fragmented messages from one sender");
    }
    it = sender.messages.emplace(seq, start_message(sender, fragment, now)).first;
  }
  return {sender_it, it};
}

void FragmentReassembler::State::discard(Sender& sender, Partial& partial, std::uint32_t seq,
                                         const std::string& why) {
  poison(sender, partial);
  ++stats_.dropped;
  throw FramingError("fragmented message seq " + std::to_string(seq) + " dropped: " + why);
}

bool FragmentReassembler::State::in_order(Sender& sender, Partial& partial,
                                          const ProcslinkMessage& fragment) {
  const ProcslinkHeader& h = fragment.header;
  if (partial.payload_type != fragment.payload_type()) {
    discard(sender, partial, h.seq, "payload type changed");
  }
  const std::uint32_t index = h.reserved;
  if ((h.flag & kFlagLastFragment) != 0) {
    if (partial.last_index && *partial.last_index != index) {
      discard(sender, partial, h.seq, "two last fragments");
    }
    partial.last_index = index;
  }
  if (partial.last_index && (index > *partial.last_index ||
                             partial.highest_index() > std::int64_t{*partial.last_index})) {
    discard(sender, partial, h.seq, "fragment after the last one");
  }
  return index >= partial.next && partial.early.count(index) == 0;
}

void FragmentReassembler::State::take_bytes(SenderMap::iterator sender_it, Partial& partial,
                                            const ProcslinkMessage& fragment) {
  Sender& sender = sender_it->second;
  const std::uint32_t seq = fragment.header.seq;
  if (partial.bytes + fragment.body.size() > limits_.max_message) {
    discard(sender, partial, seq,
            "larger than the " + std::to_string(limits_.max_message) + "-byte message limit");
  }
  const std::size_t held_before = partial.held();
  const std::size_t held_after = std::max(partial.bytes + fragment.body.size(), partial.reserved);
  if (sender.bytes - held_before + held_after > limits_.max_pending_bytes) {
    discard(sender, partial, seq,
            "sender exceeds " + std::to_string(limits_.max_pending_bytes) +
                " bytes of incomplete messages");
  }
  if (!make_room(sender_it, held_after - held_before)) {
    discard(sender, partial, seq,
            "the " + std::to_string(limits_.max_total_bytes) +
                "-byte budget for incomplete messages is full and this sender holds the most");
  }
  partial.bytes += fragment.body.size();
  charge(sender, static_cast<std::ptrdiff_t>(held_after - held_before));
}

FragmentReassembler::Complete FragmentReassembler::State::finish(SenderMap::iterator sender_it,
                                                                 MessageMap::iterator message) {
  Sender& sender = sender_it->second;
  Partial& partial = message->second;
  partial.body.resize(partial.filled);  // a shrink: writes only the terminating NUL
  Complete complete{partial.payload_type, message->first, std::move(partial.body)};
  finished_split_ = std::move(partial.split);
  charge(sender, -static_cast<std::ptrdiff_t>(partial.held()));
  sender.messages.erase(message);
  if (sender.messages.empty()) senders_.erase(sender_it);
  ++stats_.completed;
  return complete;
}

FragmentReassembler::State::Partial FragmentReassembler::State::start_message(Sender& sender,
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
      // Messages of 64 KiB and more get kSlack beyond (uncounted, like a string's rounding).
      detail::reserve_bulk(fresh.body, announced >= 16 * kSlack ? announced + kSlack : announced);
      fresh.reserved = announced;
      charge(sender, static_cast<std::ptrdiff_t>(announced));
    } catch (const std::bad_alloc&) {
      // grown as the fragments come, like a message without the hint
    }
  }
  return fresh;
}

void FragmentReassembler::State::charge(Sender& sender, std::ptrdiff_t delta) {
  const auto change = [delta](std::size_t& held) {
    held = static_cast<std::size_t>(static_cast<std::ptrdiff_t>(held) + delta);
  };
  change(sender.bytes);
  change(total_bytes_);
  auto uid = uid_bytes_.find(sender.uid);
  if (uid == uid_bytes_.end()) uid = uid_bytes_.emplace(sender.uid, 0).first;
  change(uid->second);
  if (uid->second == 0) uid_bytes_.erase(uid);
}

void FragmentReassembler::State::poison(Sender& sender, Partial& partial) {
  released_ += partial.held();
  charge(sender, -static_cast<std::ptrdiff_t>(partial.held()));
  std::string().swap(partial.body);  // assigning an empty string would keep the capacity
  partial.early.clear();
  partial.filled = 0;
  partial.bytes = 0;
  partial.reserved = 0;
  partial.split.reset();
  partial.poisoned = true;  // kept (empty) until it expires so its tail is refused too
}

bool FragmentReassembler::State::make_room(SenderMap::iterator requester, std::size_t need) {
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

FragmentReassembler::State::SenderMap::iterator FragmentReassembler::State::largest_holder(
    std::uint32_t uid, SenderMap::iterator requester) {
  SenderMap::iterator largest = senders_.end();
  if (requester->second.uid == uid) largest = requester;  // on a tie, the requester
  for (auto s = senders_.begin(); s != senders_.end(); ++s) {
    if (s->second.uid != uid || s->second.bytes == 0) continue;
    if (largest == senders_.end() || s->second.bytes > largest->second.bytes) largest = s;
  }
  return largest;
}

void FragmentReassembler::State::recycle(std::string&& body) {
  if (body.capacity() <= spare_.capacity() ||
      body.capacity() > std::max(kKeptCapacity, 2 * limits_.max_message)) {
    return;
  }
  // Its size is kept: the next message's fragments are then received straight into it (see
  // landing_room); std::string could not be written past its size without zeroing it first.
  // Its pages stay as they are until release_spare(): giving them back here would make the
  // next message fault every page in again (on a virtual machine that costs more than the
  // copies: a 4 MiB echo ran 7x slower).
  spare_.swap(body);
  // Room to land a message a little longer than this one, as long as the capacity has it
  // (growing the size writes zeros into it, so at most kSlack).
  spare_.resize(std::min(spare_.capacity(), spare_.size() + kSlack));
  spare_released_ = false;
}

bool FragmentReassembler::State::release_spare() {
  if (spare_released_ || spare_.capacity() <= kKeptCapacity) return false;
  // Its bytes may read as zeros once the kernel takes the pages back: they are never read,
  // and the terminating NUL reads the same.
  detail::release_lazily(spare_.data(), spare_.capacity());
  spare_released_ = true;
  return true;
}

char* FragmentReassembler::State::landing_room(std::uint64_t sender_key, std::uint32_t seq,
                                        std::uint16_t index, std::size_t length) {
  Partial* const found = find(sender_key, seq);
  if (found == nullptr) return nullptr;
  Partial& partial = *found;
  if (partial.poisoned || index != partial.next || partial.body.size() < partial.filled ||
      partial.body.size() - partial.filled < length) {
    return nullptr;
  }
  return partial.body.data() + partial.filled;
}

FragmentReassembler::State::Partial* FragmentReassembler::State::find(std::uint64_t sender_key,
                                                                     std::uint32_t seq) {
  const auto sender = senders_.find(sender_key);
  if (sender == senders_.end()) return nullptr;
  const auto it = sender->second.messages.find(seq);
  return it == sender->second.messages.end() ? nullptr : &it->second;
}

void FragmentReassembler::State::append_split(Partial& partial, std::string_view body,
                                              std::size_t at, std::size_t checked) {
  partial.split.emplace(detail::ReassemblyHooks::Split{std::string(body.substr(0, at)), checked});
  partial.append(body.substr(at));
}

detail::ReassemblyHooks::Room FragmentReassembler::State::next_room(std::uint64_t sender_key,
                                                                    std::uint32_t seq) {
  Partial* const found = find(sender_key, seq);
  if (found == nullptr) return {};
  Partial& partial = *found;
  if (partial.poisoned || partial.next > std::numeric_limits<std::uint16_t>::max() || partial.body.size() <= partial.filled) {
    return {};
  }
  return {partial.body.data() + partial.filled, partial.body.size() - partial.filled,
          static_cast<std::uint16_t>(partial.next)};
}

std::int64_t FragmentReassembler::State::Partial::highest_index() const {
  std::int64_t highest = std::int64_t{next} - 1;
  if (!early.empty()) highest = std::max<std::int64_t>(highest, early.rbegin()->first);
  return highest;
}

void FragmentReassembler::State::Partial::append(std::string_view chunk) {
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

std::size_t FragmentReassembler::State::expire(Clock::time_point now) {
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

std::optional<FragmentReassembler::Clock::time_point> FragmentReassembler::State::next_expiry()
    const {
  std::optional<Clock::time_point> first;
  for (const auto& [key, sender] : senders_) {
    for (const auto& [seq, partial] : sender.messages) {
      if (!first || partial.started < *first) first = partial.started;
    }
  }
  if (first) *first += limits_.timeout;
  return first;
}

std::size_t FragmentReassembler::State::pending_messages() const {
  std::size_t n = 0;
  for (const auto& [key, sender] : senders_) n += sender.messages.size();
  return n;
}

std::size_t FragmentReassembler::State::pending_bytes() const { return total_bytes_; }

}  // namespace procslink
