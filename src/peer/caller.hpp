// caller.hpp - making calls: synchronous (leading, or registered and waited for), asynchronous,
// batches and notifications. A synchronous caller on a peer that does not serve receives its
// reply itself (CallerLead); otherwise the serving threads hand it over (CallTable). Used by
// Channel.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "call_table.hpp"
#include "caller_lead.hpp"
#include "inbound_router.hpp"
#include "message_sender.hpp"
#include "outgoing_text.hpp"
#include "pool_state.hpp"
#include "serving_receiver.hpp"
#include "worker_pool.hpp"

namespace procslink::detail {

// Where a call goes and how (a Channel's fields).
struct CallAddress {
  std::uint32_t target;
  std::size_t endpoint;
  const CallOptions& options;
};

// A request's params: a json value (`value`), or else the positional arguments `args`.
struct CallParams {
  const json* value = nullptr;
  std::span<const ParamArg> args;
};

class Caller {
 public:
  struct Units {
    MessageSender& sender;
    CallTable& calls;
    CallerLead& lead;
    InboundRouter& router;
    ServingReceiver& receiver;
    WorkerPool& workers;
    PoolState& pool;
    std::mutex& mutex;  // the peer's, under which the call table and the lead live
  };
  Caller(const PeerOptions& options, Units units) : options_(options), u_(units) {}

  // Calls and waits for the result; throws RemoteError or TransportError.
  json call(const CallAddress& to, std::string_view method, const CallParams& params);
  // `done` runs once with the outcome, on a peer thread. `awaited`: the caller holds a future
  // it may wait for right away.
  void call_async(const CallAddress& to, std::string_view method, const json& params,
                  std::function<void(CallOutcome)> done, bool awaited = false);
  std::vector<CallOutcome> call_batch(const CallAddress& to,
                                      const std::vector<std::pair<std::string, json>>& calls);
  void notify(const CallAddress& to, std::string_view method, const CallParams& params);

 private:
  json call_leading(const CallAddress& to, std::string_view method, const CallParams& params,
                    std::int64_t id, Clock::time_point started, Clock::time_point deadline);
  bool own_result(const Incoming& incoming, const CallAddress& to, std::int64_t id, json& result);
  void handle_after_lead(Incoming& incoming);
  std::shared_ptr<PendingCall> begin_call(const CallAddress& to, std::string_view method,
                                          CallIds ids, OutgoingText& body,
                                          std::shared_ptr<PendingCall> record = nullptr);
  void wait(const std::shared_ptr<PendingCall>& call, Clock::time_point deadline,
            Clock::time_point started = kUnknownTime);
  // One round of wait() as the lead caller (under the lock, which it gives up meanwhile).
  void lead_once(const std::shared_ptr<PendingCall>& call, std::unique_lock<std::mutex>& lock,
                 std::span<std::uint8_t> buffer, Clock::time_point deadline, Clock::time_point now);
  json finish_call(std::shared_ptr<PendingCall> call);
  Clock::time_point deadline_for(const CallAddress& to) const {
    return Clock::now() + to.options.timeout.value_or(options_.timeout);
  }

  const PeerOptions& options_;
  Units u_;
  std::atomic<std::int64_t> next_id_{1};
};

}  // namespace procslink::detail
