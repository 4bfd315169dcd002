// method_table.cpp - registering, listing and looking up methods under the table's lock.
#include "method_table.hpp"

#include <algorithm>
#include <mutex>
#include <stdexcept>

namespace procslink::detail {

std::uint64_t MethodTable::next_generation() {
  static std::atomic<std::uint64_t> counter{0};
  return ++counter;
}

void MethodTable::changed_locked() {
  generation_.store(next_generation(), std::memory_order_release);
}

void MethodTable::find_locked_up(std::string_view name, const Credentials& credentials,
                                 MethodLease& lease, MethodCache* cache) const {
  std::shared_ptr<const Method> stale;  // a cached method replaced: released unlocked
  std::shared_lock lock(mutex_);
  const bool peer_allows = policy_.allows(credentials);
  if (auto it = methods_.find(name); it != methods_.end()) lease.method_ = it->second;
  if (cache != nullptr && lease.method_ && policy_.uids.empty() && policy_.gids.empty()) {
    cache->table = this;
    cache->generation = generation_.load(std::memory_order_relaxed);
    cache->name = name;
    stale = std::move(cache->method);
    lease.fill_ = ++cache->fills;
    lease.cache_ = cache;
  }
  lease.allowed_ = peer_allows && (!lease.method_ || !lease.method_->policy ||
                                   lease.method_->policy->allows(credentials));
  lock.unlock();
}

void MethodTable::add(std::string name, RawHandler handler, std::vector<std::string> param_names,
                      json description) {
  std::unique_lock lock(mutex_);
  std::optional<AccessPolicy> policy;
  if (auto it = methods_.find(name); it != methods_.end()) policy = it->second->policy;
  methods_[std::move(name)] = std::make_shared<const Method>(Method{
      std::move(handler), std::move(param_names), std::move(policy), std::move(description)});
  changed_locked();
}

void MethodTable::remove(const std::string& name) {
  std::unique_lock lock(mutex_);
  methods_.erase(name);
  changed_locked();
}

void MethodTable::set_policy(AccessPolicy policy) {
  std::unique_lock lock(mutex_);
  policy_ = std::move(policy);
  changed_locked();
}

void MethodTable::set_method_policy(const std::string& name, AccessPolicy policy) {
  std::unique_lock lock(mutex_);
  auto it = methods_.find(name);
  if (it == methods_.end()) {
    throw std::invalid_argument("set_method_policy: no method '" + name + "' is registered");
  }
  Method copy = *it->second;
  copy.policy = std::move(policy);
  it->second = std::make_shared<const Method>(std::move(copy));
  changed_locked();
}

std::vector<std::pair<std::string_view, const Method*>> MethodTable::sorted_locked() const {
  std::vector<std::pair<std::string_view, const Method*>> sorted;
  sorted.reserve(methods_.size());
  for (const auto& [name, method] : methods_) sorted.emplace_back(name, method.get());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return sorted;
}

std::vector<std::string> MethodTable::names() const {
  std::shared_lock lock(mutex_);
  std::vector<std::string> names;
  for (const auto& [name, method] : sorted_locked()) names.emplace_back(name);
  return names;
}

json MethodTable::describe() const {
  json methods = json::array();
  std::shared_lock lock(mutex_);
  for (const auto& [name, method] : sorted_locked()) {
    json entry = method->description;
    entry["name"] = name;
    methods.push_back(std::move(entry));
  }
  return methods;
}

}  // namespace procslink::detail
