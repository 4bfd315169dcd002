// congested_receivers.cpp - the congested receivers' table, bounded.
#include "congested_receivers.hpp"

namespace procslink::detail {

bool CongestedReceivers::congested_locked_up(std::uint64_t receiver) {
  std::lock_guard lock(mutex_);
  auto it = until_.find(receiver);
  if (it == until_.end()) return false;
  if (Clock::now() < it->second) return true;
  until_.erase(it);
  count_.store(until_.size(), std::memory_order_relaxed);
  return false;
}

void CongestedReceivers::mark(std::uint64_t receiver) {
  std::lock_guard lock(mutex_);
  const auto now = Clock::now();
  if (until_.size() >= kMaxRemembered) {
    std::erase_if(until_, [now](const auto& entry) { return entry.second <= now; });
    if (until_.size() >= kMaxRemembered) until_.clear();  // forget rather than grow
  }
  until_[receiver] = now + kHold;
  count_.store(until_.size(), std::memory_order_relaxed);
}

}  // namespace procslink::detail
