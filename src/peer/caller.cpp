// caller.cpp - synchronous, leading, asynchronous and batch calls, and notifications.
#include "caller.hpp"

#include <algorithm>

#include "../json_writer.hpp"
#include "../jsonrpc_text.hpp"
#include "thread_state.hpp"

namespace procslink::detail {
namespace {

// Null params are left out of the request, as the specification allows.
void write_request(OutgoingText& buffer, std::string_view method, const CallParams& params,
                   std::optional<std::int64_t> id) {
  if (params.value == nullptr) {
    append_positional_request(buffer.text(), buffer.borrowed(), method, params.args,
                              id ? &*id : nullptr);
  } else {
    const json id_value = id ? json(*id) : json();  // a number: nothing of it is borrowed
    append_request(buffer.text(), buffer.borrowed(), method,
                   params.value->is_null() ? nullptr : params.value, id ? &id_value : nullptr);
  }
}

// A synchronous call's record, kept by its thread for the next one: an allocation and a
// release less per call. Kept only when nobody else holds it any more (use_count() 1: its ids
// left the call table under the mutex before the caller saw it done).
struct SpareCall {
  std::shared_ptr<PendingCall> record;
};
std::shared_ptr<PendingCall>* spare_call() {
  SpareCall* spare = ThreadScratch<SpareCall>::get();
  return spare != nullptr ? &spare->record : nullptr;
}

// A finished call's record for the general path: the thread's spare one, else a new one.
std::shared_ptr<PendingCall> fresh_call() {
  std::shared_ptr<PendingCall>* const spare = spare_call();
  std::shared_ptr<PendingCall> record = spare != nullptr ? std::move(*spare) : nullptr;
  if (!record) return std::make_shared<PendingCall>();
  *record = PendingCall{};
  return record;
}

// The buffer a caller receives into: its thread's, else (in a late destructor) `own`.
// Left uninitialized: only the pages a datagram lands in are ever touched.
struct CallerBuffer {
  std::unique_ptr<std::uint8_t[]> storage;
};
std::span<std::uint8_t> caller_buffer(std::unique_ptr<std::uint8_t[]>& own) {
  CallerBuffer* const kept = ThreadScratch<CallerBuffer>::get();
  std::unique_ptr<std::uint8_t[]>& storage = kept != nullptr ? kept->storage : own;
  if (!storage) storage.reset(new std::uint8_t[kMaxDatagramSize]);
  return {storage.get(), kMaxDatagramSize};
}

// What a call's reply must match: where it went, the uid required of the answer, its ids.
void address_call(PendingCall& call, const CallAddress& to, std::string_view method, CallIds ids) {
  call.target = to.target;
  call.endpoint = to.endpoint;
  call.require_uid = to.options.require_uid;
  call.method = std::string(method);
  call.ids = std::move(ids);
}

}  // namespace

// The result, if `incoming` is the success reply to call `id` as peers write it (one
// datagram, the usual layout) and nothing about it needs the general path.
inline bool Caller::own_result(const Incoming& incoming, const CallAddress& to, std::int64_t id,
                        json& result) {
  const ReceivedDatagram& d = incoming.datagram;
  if (d.sender_nl_pid != to.target || incoming.endpoint != to.endpoint ||
      d.bytes.size() <= kDatagramHeadersSize) {
    return false;
  }
  if (const auto& uid = to.options.require_uid; uid && d.credentials.uid != *uid) return false;
  ProcslinkMessage message;
  try {
    message = ProcslinkMessage::parse(d.bytes);
  } catch (const FramingError&) {
    return false;  // the router logs it
  }
  return message.netlink.pid == d.sender_nl_pid && !message.header.is_fragment() &&
         message.payload_type() == PayloadType::response &&
         read_result_layout(message.body, id, result);
}

// A synchronous call by the lead caller, which it became on entry (one socket,
// no serving threads). While it leads, nobody else reads the socket, so its own reply can only
// come to it: the call is not registered, and its reply is taken straight from the receive
// (own_result). Whatever else arrives meanwhile (a request, a reply for a follower, an error,
// a fragment) turns it into a registered call handled as usual from there. Half the work of
// the general path: no record, no table entry, one lock round on each side of the exchange.
inline json Caller::call_leading(const CallAddress& to, std::string_view method,
                          const CallParams& params, std::int64_t id, Clock::time_point started,
                          Clock::time_point deadline) {
  // Whatever throws (a send, a receive, an allocation) gives the lead up on the way out.
  struct Lead {
    Caller* caller;
    ~Lead() {
      if (caller == nullptr) return;
      std::lock_guard lock(caller->u_.mutex);
      caller->u_.lead.end_locked();
    }
  } lead{this};
  {
    OutgoingText buffer;
    write_request(buffer, method, params, id);
    u_.sender.send(to.endpoint, to.target, PayloadType::request, buffer);
  }
  std::unique_ptr<std::uint8_t[]> own;
  const std::span<std::uint8_t> buffer = caller_buffer(own);
  std::optional<Incoming> incoming = u_.lead.receive_directly(buffer, deadline, started);
  if (!incoming) throw timeout_error(to.target, method);
  if (json result; own_result(*incoming, to, id, result)) return result;
  std::shared_ptr<PendingCall> call = fresh_call();
  address_call(*call, to, method, CallIds(id));
  {
    std::lock_guard lock(u_.mutex);
    u_.calls.add_locked(id, call);
    lead.caller = nullptr;
    u_.lead.end_locked(&*incoming);
  }
  handle_after_lead(*incoming);
  wait(call, deadline);
  return finish_call(std::move(call));
}

json Caller::call(const CallAddress& to, std::string_view method, const CallParams& params) {
  const std::int64_t id = next_id_++;
  const auto timeout = to.options.timeout.value_or(options_.timeout);
  const auto started = Clock::now();
  const auto deadline = started + timeout;
  if (u_.lead.receives_directly()) {
    std::unique_lock lock(u_.mutex);
    if (u_.lead.try_take_locked(true)) {
      lock.unlock();
      return call_leading(to, method, params, id, started, deadline);
    }
  }
  std::shared_ptr<PendingCall> call;
  {
    std::shared_ptr<PendingCall> record = fresh_call();
    OutgoingText buffer;
    write_request(buffer, method, params, id);
    call = begin_call(to, method, CallIds(id), buffer, std::move(record));
  }
  wait(call, deadline, started);
  return finish_call(std::move(call));
}

// Handles a datagram received while leading, once the lead is given up (CallerLead counted it
// as landing then if it is a fragment with more to come). It may land the fragments behind it
// (Incoming::exclusive) while another caller leads: such a caller must be registered, as it
// could be handed its reply here (see CallerLead::try_take_locked).
void Caller::handle_after_lead(Incoming& incoming) {
  const bool lands = more_fragments_follow(incoming.datagram.bytes);
  incoming.exclusive = true;
  struct Landed {
    Caller* caller;
    bool lands;
    ~Landed() {
      if (!lands) return;
      std::lock_guard lock(caller->u_.mutex);
      caller->u_.lead.landed_locked();
    }
  } landed{this, lands};
  u_.router.handle(incoming);
}

// `record`: a finished call's record to reuse (see spare_call), else a new one is made.
std::shared_ptr<PendingCall> Caller::begin_call(const CallAddress& to, std::string_view method,
                                                CallIds ids, OutgoingText& body,
                                                std::shared_ptr<PendingCall> record) {
  std::shared_ptr<PendingCall> call = record ? std::move(record) : std::make_shared<PendingCall>();
  address_call(*call, to, method, std::move(ids));
  {
    std::lock_guard lock(u_.mutex);
    u_.calls.add_ids_locked(call);
  }
  try {
    u_.sender.send(to.endpoint, to.target, PayloadType::request, body);
  } catch (...) {
    std::lock_guard lock(u_.mutex);
    u_.calls.erase_ids_locked(*call);
    throw;
  }
  return call;
}

// Waits for a synchronous call, receiving for itself when no serving thread does. `started`:
// when the call's deadline was computed, which stands in for the clock on the first round (a
// clock read costs ~16 ns in a VM; the call was sent microseconds ago).
void Caller::wait(const std::shared_ptr<PendingCall>& call, Clock::time_point deadline,
                  Clock::time_point started) {
  std::unique_ptr<std::uint8_t[]> own;
  const std::span<std::uint8_t> buffer = caller_buffer(own);
  CallerLead::Follower me;
  std::unique_lock lock(u_.mutex);
  call->waiter = &me.cv;
  while (!call->done && (started != kUnknownTime ? started : Clock::now()) < deadline) {
    const Clock::time_point now = std::exchange(started, kUnknownTime);
    if (u_.lead.try_take_locked(false)) {
      lead_once(call, lock, buffer, deadline, now);
    } else if (!u_.pool.running) {
      u_.lead.follow(lock, me,
                     [deadline](std::condition_variable& cv, std::unique_lock<std::mutex>& l) {
                       cv.wait_until(l, deadline);
                     });
    } else {
      u_.receiver.hand_back_socket();
      me.cv.wait_until(lock, deadline);
    }
  }
  call->waiter = nullptr;
  if (!u_.lead.busy_locked()) u_.lead.promote_locked();
  if (!call->done) {
    u_.calls.erase_ids_locked(*call);
    throw timeout_error(call->target, call->method);
  }
}

void Caller::lead_once(const std::shared_ptr<PendingCall>& call, std::unique_lock<std::mutex>& lock,
                       std::span<std::uint8_t> buffer, Clock::time_point deadline,
                       Clock::time_point now) {
  call->leading = true;
  lock.unlock();
  std::optional<Incoming> incoming;
  std::exception_ptr error;
  try {
    incoming = u_.lead.receive(buffer, deadline, now);
  } catch (...) {
    error = std::current_exception();
  }
  lock.lock();
  call->leading = false;
  u_.lead.end_locked(incoming ? &*incoming : nullptr);
  if (error) {
    call->waiter = nullptr;
    u_.calls.erase_ids_locked(*call);
    std::rethrow_exception(error);
  }
  if (incoming) {
    lock.unlock();
    handle_after_lead(*incoming);
    lock.lock();
  }
}

// A synchronous call's outcome, once waited for.
json Caller::finish_call(std::shared_ptr<PendingCall> call) {
  if (!call->error && call->response && !call->response->is_error()) {
    json result = std::move(std::get<0>(call->response->outcome));
    if (call.use_count() == 1) {
      if (std::shared_ptr<PendingCall>* const spare = spare_call()) *spare = std::move(call);
    }
    return result;
  }
  CallOutcome outcome = CallTable::outcome_of(*call);
  if (outcome.value.index() == 1) std::rethrow_exception(std::get<1>(outcome.value));
  return std::move(std::get<0>(outcome.value));
}

void Caller::call_async(const CallAddress& to, std::string_view method, const json& params,
                        std::function<void(CallOutcome)> done, bool awaited) {
  // Whoever may wait for this call's outcome must not keep its reply queued behind itself:
  // a future's holder, or a request's handler (which may wait for its callback's effect).
  u_.receiver.hand_back_socket(!awaited);
  const std::int64_t id = next_id_++;
  OutgoingText buffer;
  write_request(buffer, method, {&params, {}}, id);
  const auto deadline = deadline_for(to);
  auto call = std::make_shared<PendingCall>();
  address_call(*call, to, method, CallIds(id));
  call->callback = std::move(done);
  call->async_deadline = deadline;
  bool earliest, serving;
  {
    std::lock_guard lock(u_.mutex);
    u_.calls.add_locked(id, call);
    earliest = u_.calls.push_async_deadline_locked(deadline, id);
    serving = u_.pool.running;
  }
  // Someone has to receive the reply while the caller is away: serve in the background.
  // Only after the call is registered, so a pool that is just stopping fails it rather than
  // leaving it without a receiver.
  if (!serving) u_.workers.start(options_.workers, false, true);
  if (earliest) u_.receiver.kick();  // a serving thread must wait for the new deadline
  try {
    u_.sender.send(to.endpoint, to.target, PayloadType::request, buffer);
  } catch (...) {
    std::unique_lock lock(u_.mutex);
    if (!call->done) {
      call->error = std::current_exception();
      u_.calls.complete_locked(call, lock);
    }
  }
}

std::vector<CallOutcome> Caller::call_batch(
    const CallAddress& to, const std::vector<std::pair<std::string, json>>& calls) {
  if (calls.empty()) throw std::invalid_argument("call_batch: a batch needs at least one call");
  std::vector<std::int64_t> ids;
  json array = json::array();
  for (const auto& [method, params] : calls) {
    const std::int64_t id = next_id_++;
    ids.push_back(id);
    JsonRpcRequest request{method, std::nullopt, id};
    if (!params.is_null()) request.params = params;
    array.push_back(request.to_json());
  }
  const auto deadline = deadline_for(to);
  OutgoingText buffer;
  append_json(buffer.text(), array);
  auto call = begin_call(to, "batch", CallIds(ids), buffer);
  wait(call, deadline);
  if (call->error) std::rethrow_exception(call->error);
  // A batch of one is answered like a single call.
  if (call->response) call->responses.push_back(std::move(*call->response));
  std::vector<CallOutcome> outcomes;
  for (auto id : ids) {
    auto it = std::find_if(call->responses.begin(), call->responses.end(),
                           [id](const JsonRpcResponse& r) { return r.id == id; });
    if (it == call->responses.end()) {
      outcomes.push_back(failed_outcome(std::make_exception_ptr(TransportError(
          TransportError::Kind::malformed_reply,
          "the batch reply has no response for id " + std::to_string(id)))));
    } else if (it->is_error()) {
      outcomes.push_back(failed_outcome(std::make_exception_ptr(RemoteError(it->error()))));
    } else {
      outcomes.push_back({it->result()});
    }
  }
  return outcomes;
}

void Caller::notify(const CallAddress& to, std::string_view method, const CallParams& params) {
  OutgoingText buffer;
  write_request(buffer, method, params, std::nullopt);
  u_.sender.send(to.endpoint, to.target, PayloadType::request, buffer);
}

}  // namespace procslink::detail
