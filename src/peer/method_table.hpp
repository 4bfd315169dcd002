// method_table.hpp - the methods a peer serves: names to handlers, each with its access
// policy and OpenRPC description, under the peer's own policy; and the per-thread cache that
// lets a serving thread run the method it ran last without a lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "procslink/peer_options.hpp"
#include "thread_state.hpp"

namespace procslink::detail {

struct Method {
  RawHandler handler;
  std::vector<std::string> param_names;
  std::optional<AccessPolicy> policy;
  json description;  // OpenRPC: params, result, paramStructure
};

class MethodTable;

// A serving thread's last looked-up method (the one it runs most often, as a rule): a request
// for it then needs neither the table's lock nor a shared_ptr copy, each two atomic operations.
// Valid while `generation` is the table's; kept only while the peer's policy allows everybody.
// It lives on a serving thread's stack (ThreadContext::method_cache), so the handler it holds
// is not kept past the thread's serving.
struct MethodCache {
  const MethodTable* table = nullptr;
  std::uint64_t generation = 0;
  std::string name;
  std::shared_ptr<const Method> method;
  std::uint64_t fills = 0;  // how often it was filled: a request lends and takes back its fill
};

// A method looked up for one request, and whether the caller may run it. A method that came
// from (or went into) the thread's cache is lent to the request and goes back when it ends,
// unless a request handled meanwhile on this thread (a handler that serves while it calls)
// filled the cache anew.
class MethodLease {
 public:
  MethodLease() = default;
  MethodLease(const MethodLease&) = delete;
  MethodLease& operator=(const MethodLease&) = delete;
  ~MethodLease() {
    if (cache_ != nullptr && cache_->fills == fill_ && !cache_->method) {
      cache_->method = std::move(method_);
    }
  }
  const Method* get() const { return method_.get(); }
  const Method* operator->() const { return method_.get(); }
  explicit operator bool() const { return method_ != nullptr; }
  bool allowed() const { return allowed_; }

 private:
  friend class MethodTable;
  std::shared_ptr<const Method> method_;
  bool allowed_ = false;
  MethodCache* cache_ = nullptr;  // lent from this cache (to go back there)
  std::uint64_t fill_ = 0;
};

class MethodTable {
 public:
  // Looks `name` up for a caller with `credentials`: the method (if any), and whether the
  // peer's policy and the method's own allow the caller.
  void find(std::string_view name, const Credentials& credentials, MethodLease& lease) const {
    MethodCache* const cache = t_thread.method_cache;
    if (cache != nullptr && cache->table == this && cache->method &&
        cache->generation == generation_.load(std::memory_order_acquire) && cache->name == name) {
      lease.method_ = std::move(cache->method);
      lease.fill_ = cache->fills;
      lease.cache_ = cache;
      // Cached only while the peer's policy allows everybody.
      lease.allowed_ = !lease.method_->policy || lease.method_->policy->allows(credentials);
      return;
    }
    find_locked_up(name, credentials, lease, cache);
  }

  // Adds or replaces a method; a replaced method keeps its policy.
  void add(std::string name, RawHandler handler, std::vector<std::string> param_names,
           json description);
  void remove(const std::string& name);
  void set_policy(AccessPolicy policy);
  // Throws std::invalid_argument when no such method is registered.
  void set_method_policy(const std::string& name, AccessPolicy policy);
  std::vector<std::string> names() const;  // sorted
  // Every method's OpenRPC description with its name, sorted by name.
  json describe() const;

 private:
  void find_locked_up(std::string_view name, const Credentials& credentials, MethodLease& lease,
                      MethodCache* cache) const;
  void changed_locked();
  std::vector<std::pair<std::string_view, const Method*>> sorted_locked() const;

  // Hashed, not ordered: a lookup per request is the one use on the hot path. Listings sort.
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view name) const noexcept {
      return std::hash<std::string_view>{}(name);
    }
  };
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<const Method>, NameHash, std::equal_to<>>
      methods_;
  AccessPolicy policy_;
  // Changes, under mutex_ (unique), with every change of methods_ or policy_: a value drawn
  // from a process-wide counter, so no two states of any two tables share one.
  std::atomic<std::uint64_t> generation_{next_generation()};
  static std::uint64_t next_generation();
};

}  // namespace procslink::detail
