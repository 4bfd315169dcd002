// call_table.cpp - matching replies with calls, completing them, and their deadlines.
#include "call_table.hpp"

#include <algorithm>

#include "../json_writer.hpp"
#include "procslink/log.hpp"

namespace procslink::detail {

CallOutcome failed_outcome(std::exception_ptr error) {
  CallOutcome outcome;
  outcome.value.emplace<1>(std::move(error));
  return outcome;
}

TransportError timeout_error(std::uint32_t target, std::string_view method) {
  return TransportError(TransportError::Kind::timeout,
                        "no reply from nl_pid " + std::to_string(target) + " to '" +
                            std::string(method) +
                            "' before the deadline (is the peer alive and serving?)");
}

namespace {

// A call that ends unanswered because of `why` (its receiver went away).
std::exception_ptr ended_error(const PendingCall& call, const std::string& why,
                               std::string_view note) {
  return std::make_exception_ptr(TransportError(
      TransportError::Kind::other, why + " before the reply from nl_pid " +
                                       std::to_string(call.target) + " to '" + call.method +
                                       "' arrived" + std::string(note)));
}

}  // namespace

void CallTable::add_locked(std::int64_t id, const std::shared_ptr<PendingCall>& call) {
  if (spare_nodes_.empty()) {
    pending_[id] = call;
    return;
  }
  auto node = std::move(spare_nodes_.back());
  spare_nodes_.pop_back();
  node.key() = id;
  node.mapped() = call;
  pending_.insert(std::move(node));
}

void CallTable::erase_locked(std::int64_t id) {
  auto node = pending_.extract(id);
  if (node.empty()) return;
  node.mapped().reset();
  if (spare_nodes_.size() < kSpareNodes) spare_nodes_.push_back(std::move(node));
}

void CallTable::take_response_locked(const Origin& origin, JsonRpcResponse&& response,
                                     std::unique_lock<std::mutex>& lock) {
  std::shared_ptr<PendingCall> call;
  if (response.id.is_number_integer()) {
    if (auto it = pending_.find(response.id.get<std::int64_t>()); it != pending_.end()) {
      call = it->second;
    }
  } else if (response.id.is_null() && response.is_error()) {
    call = oldest_call_to_locked(origin);
    if (call && call->ids.size() > 1) {
      // The batch as a whole was refused (unreadable, or empty): it fails as one.
      call->error = std::make_exception_ptr(RemoteError(response.error()));
      complete_locked(call, lock);
      return;
    }
  }
  if (!call) {
    log(LogLevel::debug, "dropped late or unknown reply id ", to_text(response.id), " from ",
        describe_sender(origin.nl_pid, origin.credentials));
    return;
  }
  if (!accept_locked(*call, origin, response)) return;
  if (!call->error) {
    if (call->ids.size() == 1) call->response = std::move(response);
    else call->responses.push_back(std::move(response));
  }
  const bool all = call->ids.size() == 1 ? call->response.has_value()
                                         : call->responses.size() == call->ids.size();
  if (call->error || all) complete_locked(call, lock);
}

bool CallTable::accept_locked(PendingCall& call, const Origin& origin,
                              const JsonRpcResponse& response) {
  if (call.target != origin.nl_pid || call.endpoint != origin.endpoint) {
    log(LogLevel::warning, "dropped reply id ", to_text(response.id), " from ",
        describe_sender(origin.nl_pid, origin.credentials), ": the call went to nl_pid ",
        call.target);
    return false;
  }
  if (call.require_uid && origin.credentials.uid != *call.require_uid) {
    call.error = std::make_exception_ptr(TransportError(
        TransportError::Kind::wrong_peer,
        "the reply from nl_pid " + std::to_string(origin.nl_pid) + " came from uid " +
            std::to_string(origin.credentials.uid) + ", not the required uid " +
            std::to_string(*call.require_uid)));
    return true;
  }
  return call.ids.size() != 1 || !call.response;  // else a duplicate
}

// An error reply whose id is null answers a request its server could not read far enough to
// find the id (a parse error, say). It fails the oldest call outstanding to that sender on
// that socket (the lowest id): with one outstanding, the one it answers; with several, the
// first sent, so each such reply fails one call at once instead of letting it wait out its
// deadline. Null if none is outstanding there.
std::shared_ptr<PendingCall> CallTable::oldest_call_to_locked(const Origin& origin) const {
  std::shared_ptr<PendingCall> oldest;
  std::int64_t oldest_id = 0;
  for (const auto& [id, call] : pending_) {
    if (call->done || call->target != origin.nl_pid || call->endpoint != origin.endpoint) continue;
    if (!oldest || id < oldest_id) {
      oldest = call;
      oldest_id = id;
    }
  }
  return oldest;
}

void CallTable::complete_locked(const std::shared_ptr<PendingCall>& call,
                                std::unique_lock<std::mutex>& lock) {
  if (call->done) return;
  call->done = true;
  erase_ids_locked(*call);
  // Its entry in async_deadlines_ stays: it is skipped when it comes up, or swept out.
  if (call->waiter) call->waiter->notify_one();
  // Its caller may be receiving for everybody just now, while another thread handles this
  // reply: it sleeps in a receive, not on its condition variable.
  if (call->leading) wake_lead_();
  if (call->callback) {
    auto callback = std::move(call->callback);
    CallOutcome outcome = outcome_of(*call);
    lock.unlock();
    try {
      callback(std::move(outcome));
    } catch (const std::exception& e) {
      log(LogLevel::error, "async call callback threw: ", e.what());
    }
    lock.lock();
  }
}

bool CallTable::push_async_deadline_locked(Clock::time_point deadline, std::int64_t id) {
  const bool earliest = async_deadlines_.empty() || deadline < async_deadlines_.front().first;
  // Entries of answered calls pile up when replies come quicker than deadlines pass:
  // sweep them out once they are most of the heap.
  if (async_deadlines_.size() >= 1024 && async_deadlines_.size() > 2 * pending_.size()) {
    std::erase_if(async_deadlines_,
                  [this](const auto& entry) { return !pending_.contains(entry.second); });
    std::make_heap(async_deadlines_.begin(), async_deadlines_.end(), std::greater<>());
  }
  async_deadlines_.emplace_back(deadline, id);
  std::push_heap(async_deadlines_.begin(), async_deadlines_.end(), std::greater<>());
  async_deadlines_count_.store(async_deadlines_.size(), std::memory_order_relaxed);
  return earliest;
}

void CallTable::expire_async_locked(std::unique_lock<std::mutex>& lock) {
  if (async_deadlines_.empty()) return;  // no clock read per datagram for a plain server
  const auto now = Clock::now();
  while (!async_deadlines_.empty() && async_deadlines_.front().first <= now) {
    const std::int64_t id = async_deadlines_.front().second;
    std::pop_heap(async_deadlines_.begin(), async_deadlines_.end(), std::greater<>());
    async_deadlines_.pop_back();
    async_deadlines_count_.store(async_deadlines_.size(), std::memory_order_relaxed);
    auto it = pending_.find(id);
    if (it == pending_.end()) continue;  // answered in time
    auto call = it->second;
    call->async_deadline.reset();
    call->error = std::make_exception_ptr(timeout_error(call->target, call->method));
    complete_locked(call, lock);
  }
}

void CallTable::fail_async_locked(std::unique_lock<std::mutex>& lock, const std::string& why) {
  for (;;) {
    auto it = std::find_if(pending_.begin(), pending_.end(), [](const auto& entry) {
      return entry.second->async_deadline.has_value();
    });
    if (it == pending_.end()) return;
    auto call = it->second;
    call->error = ended_error(*call, why, " (RPCPeer::stop ends asynchronous calls too)");
    complete_locked(call, lock);
  }
}

void CallTable::fail_all_locked(std::unique_lock<std::mutex>& lock, const std::string& why) {
  std::vector<std::shared_ptr<PendingCall>> outstanding;
  for (const auto& [id, call] : pending_) {
    if (std::find(outstanding.begin(), outstanding.end(), call) == outstanding.end()) {
      outstanding.push_back(call);
    }
  }
  for (const auto& call : outstanding) {
    call->error = ended_error(*call, why, "");
    complete_locked(call, lock);
  }
}

void CallTable::wake_waiters_locked() const {
  for (const auto& [id, call] : pending_) {
    if (call->waiter) call->waiter->notify_one();
  }
}

CallOutcome CallTable::outcome_of(PendingCall& call) {
  if (call.error) return failed_outcome(call.error);
  JsonRpcResponse& r = call.response ? *call.response : call.responses.front();
  if (r.is_error()) return failed_outcome(std::make_exception_ptr(RemoteError(r.error())));
  return {std::move(std::get<0>(r.outcome))};
}

}  // namespace procslink::detail
