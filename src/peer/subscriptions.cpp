// subscriptions.cpp - the subscriber table: adding within the bounds (the largest uid gives
// way), removing, counting what was sent and missed, and the declared events.
#include "subscriptions.hpp"

#include <algorithm>

namespace procslink::detail {

Subscriptions::Subscriptions(std::size_t max_total, std::size_t max_per_uid)
    : max_total_(std::max<std::size_t>(max_total, 1)),
      max_per_uid_(std::clamp<std::size_t>(max_per_uid, 1, std::max<std::size_t>(max_total, 1))) {}

Subscriptions::Subscription* Subscriptions::find_locked(std::string_view event,
                                                        SubscriberAddress who) {
  const auto it = by_event_.find(event);
  if (it == by_event_.end()) return nullptr;
  for (Subscription& s : it->second) {
    if (s.who == who) return &s;
  }
  return nullptr;
}

std::optional<uid_t> Subscriptions::largest_holder_locked() const {
  std::optional<uid_t> largest;
  std::size_t most = 0;
  for (const auto& [uid, held] : per_uid_) {
    if (held > most) {
      most = held;
      largest = uid;
    }
  }
  return largest;
}

void Subscriptions::evict_one_of_locked(uid_t uid) {
  // Its oldest subscription, over every event.
  std::vector<Subscription>* where = nullptr;
  std::size_t index = 0;
  std::uint64_t oldest = UINT64_MAX;
  for (auto& [event, list] : by_event_) {
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (list[i].uid == uid && list[i].order < oldest) {
        oldest = list[i].order;
        where = &list;
        index = i;
      }
    }
  }
  if (where == nullptr) return;
  where->erase(where->begin() + static_cast<std::ptrdiff_t>(index));
  if (--per_uid_[uid] == 0) per_uid_.erase(uid);
  --total_;
  ++evicted_;
}

Subscriptions::Added Subscriptions::add(std::string_view event, SubscriberAddress who, uid_t uid,
                                        std::uint64_t inode) {
  std::lock_guard lock(mutex_);
  if (Subscription* existing = find_locked(event, who)) {
    existing->inode = inode;  // the same socket, or a later one at its port id: it is now
    return Added::already;
  }
  const auto held = per_uid_.find(uid);
  const std::size_t mine = held == per_uid_.end() ? 0 : held->second;
  if (mine >= max_per_uid_) {
    ++refused_;
    return Added::refused;
  }
  if (total_ >= max_total_) {
    const std::optional<uid_t> largest = largest_holder_locked();
    if (!largest || *largest == uid || per_uid_[*largest] <= mine) {
      ++refused_;
      return Added::refused;
    }
    evict_one_of_locked(*largest);
  }
  auto it = by_event_.find(event);
  if (it == by_event_.end()) it = by_event_.emplace(std::string(event), std::vector<Subscription>{}).first;
  it->second.push_back({who, uid, next_order_++, inode});
  ++per_uid_[uid];
  ++total_;
  return Added::added;
}

bool Subscriptions::remove(std::string_view event, SubscriberAddress who) {
  std::lock_guard lock(mutex_);
  const auto it = by_event_.find(event);
  if (it == by_event_.end()) return false;
  auto& list = it->second;
  const auto found = std::find_if(list.begin(), list.end(),
                                  [&](const Subscription& s) { return s.who == who; });
  if (found == list.end()) return false;
  if (--per_uid_[found->uid] == 0) per_uid_.erase(found->uid);
  --total_;
  list.erase(found);
  if (list.empty()) by_event_.erase(it);
  return true;
}

template <typename Pick>
std::size_t Subscriptions::remove_if_locked(Pick drop) {
  std::size_t removed = 0;
  for (auto it = by_event_.begin(); it != by_event_.end();) {
    auto& list = it->second;
    for (auto s = list.begin(); s != list.end();) {
      if (!drop(*s)) {
        ++s;
        continue;
      }
      if (--per_uid_[s->uid] == 0) per_uid_.erase(s->uid);
      --total_;
      ++removed;
      s = list.erase(s);
    }
    it = list.empty() ? by_event_.erase(it) : std::next(it);
  }
  return removed;
}

std::size_t Subscriptions::remove_all(SubscriberAddress who) {
  std::lock_guard lock(mutex_);
  return remove_if_locked([&](const Subscription& s) { return s.who == who; });
}

std::size_t Subscriptions::remove_stale(SubscriberAddress who, std::uint64_t current) {
  std::lock_guard lock(mutex_);
  const std::size_t removed = remove_if_locked([&](const Subscription& s) {
    return s.who == who && s.inode != 0 && s.inode != current;
  });
  stale_ += removed;
  return removed;
}

std::vector<Subscriber> Subscriptions::subscribers(std::string_view event) const {
  std::lock_guard lock(mutex_);
  std::vector<Subscriber> out;
  if (const auto it = by_event_.find(event); it != by_event_.end()) {
    out.reserve(it->second.size());
    for (const Subscription& s : it->second) out.push_back({s.who, s.inode, s.seq});
  }
  return out;
}

std::vector<Subscriber> Subscriptions::next_event(std::string_view event) {
  std::lock_guard lock(mutex_);
  std::vector<Subscriber> out;
  if (const auto it = by_event_.find(event); it != by_event_.end()) {
    out.reserve(it->second.size());
    for (Subscription& s : it->second) {
      if (++s.seq == 0) s.seq = 1;
      out.push_back({s.who, s.inode, s.seq});
    }
  }
  return out;
}

void Subscriptions::count(std::string_view event, SubscriberAddress who, bool delivered) {
  std::lock_guard lock(mutex_);
  if (Subscription* s = find_locked(event, who)) ++(delivered ? s->sent : s->missed);
}

void Subscriptions::declare(std::string event, std::optional<AccessPolicy> policy,
                            json description) {
  std::lock_guard lock(mutex_);
  declared_[std::move(event)] = {std::move(policy), std::move(description)};
}

bool Subscriptions::allows(std::string_view event, const Credentials& credentials) const {
  std::lock_guard lock(mutex_);
  const auto it = declared_.find(event);
  return it == declared_.end() || !it->second.policy || it->second.policy->allows(credentials);
}

json Subscriptions::describe() const {
  std::lock_guard lock(mutex_);
  json events = json::array();
  for (const auto& [name, declared] : declared_) {
    json entry = declared.description.is_object() ? declared.description : json::object();
    entry["name"] = name;
    events.push_back(std::move(entry));
  }
  return events;
}

json Subscriptions::stats() const {
  std::lock_guard lock(mutex_);
  json events = json::object();
  for (const auto& [name, list] : by_event_) {
    std::uint64_t sent = 0;
    std::uint64_t missed = 0;
    for (const Subscription& s : list) {
      sent += s.sent;
      missed += s.missed;
    }
    events[name] = {{"subscribers", list.size()}, {"sent", sent}, {"missed", missed}};
  }
  return {{"by_event", std::move(events)}, {"subscriptions", total_},
          {"max_subscriptions", max_total_}, {"max_per_uid", max_per_uid_},
          {"refused", refused_}, {"evicted", evicted_}, {"stale", stale_}};
}

std::size_t Subscriptions::size() const {
  std::lock_guard lock(mutex_);
  return total_;
}

}  // namespace procslink::detail
