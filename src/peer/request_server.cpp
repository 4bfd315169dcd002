// request_server.cpp - reading requests, running their handlers, sending their replies; and
// the values a serving thread keeps for its next request.
#include "request_server.hpp"

#include <algorithm>

#include "../json_reader.hpp"
#include "../jsonrpc_text.hpp"
#include "outgoing_text.hpp"
#include "procslink/log.hpp"

namespace procslink::detail {
namespace {

// A json value a serving thread keeps for its next request; `Use` names the use.
template <typename Use>
json* kept_value() {
  Use* const kept = ThreadScratch<Use>::get();
  return kept != nullptr ? &kept->value : nullptr;
}

// A serving thread's params array, emptied after a handler and read into by its next request
// (read_request_layout): two allocations and releases less per request. Kept only while
// small, so a thread holds no more than a few hundred bytes for it.
constexpr std::size_t kSpareParamsMax = 16;
struct SpareParams {
  json value;
};
json* spare_params() { return kept_value<SpareParams>(); }

// A serving thread's string value, taken over by the next request's first string param
// (read_request_layout): its two allocations and releases are saved when a request's string
// param or a reply's string result is done with. Kept only up to kSpareStringMax bytes.
constexpr std::size_t kSpareStringMax = 4096;
struct SpareString {
  json value;
};
json* spare_string() { return kept_value<SpareString>(); }

// Keeps `value` (left null) as the spare string if it is a short string and none is kept.
bool keep_string(json& value) {
  json* const spare = spare_string();
  if (spare == nullptr || !spare->is_null() || !value.is_string() ||
      value.get_ref<const std::string&>().capacity() > kSpareStringMax) {
    return false;
  }
  spare->swap(value);
  return true;
}

void keep_params_array(json& params) {
  json* const spare = spare_params();
  if (spare != nullptr && params.is_array() && spare->is_null() &&
      params.get_ref<const json::array_t&>().capacity() <= kSpareParamsMax) {
    for (json& element : params.get_ref<json::array_t&>()) {
      if (keep_string(element)) break;
    }
    params.get_ref<json::array_t&>().clear();
    spare->swap(params);  // no temporary (json's operator= takes its argument by value)
  } else {
    release(params);
  }
}

// The reply owed for a request that failed with `error` (`what`, if any, is logged for a
// notification, which gets none).
void answer_failure(JsonRpcRequest& request, ErrorObject error, const char* what,
                    std::optional<JsonRpcResponse>& reply) {
  if (request.is_notification()) {
    if (what != nullptr) log(LogLevel::debug, "notification '", request.method, "' failed: ", what);
    return;
  }
  reply = JsonRpcResponse::failure(std::move(*request.id), std::move(error));
}

}  // namespace

// A serving thread's turn running a handler for the request's uid (thread_share_). A request
// this thread handles while it already runs one of this peer's handlers (one that serves while
// it calls) takes no second turn: it occupies no other thread.
class RequestServer::ThreadTurn {
 public:
  ThreadTurn(RequestServer& server, const Origin& origin) : outer_(t_thread.running_for) {
    if (outer_ == &server) return;
    ticket_ = server.thread_share_.take(origin.credentials.uid);
    if (!ticket_) {
      server.log_busy(origin);
      throw JsonRpcError(error_code::server_busy, "Server busy",
                         "uid " + std::to_string(origin.credentials.uid) + " already runs " +
                             std::to_string(server.thread_share_.share()) + " requests here");
    }
    t_thread.running_for = &server;
  }
  ThreadTurn(const ThreadTurn&) = delete;
  ThreadTurn& operator=(const ThreadTurn&) = delete;
  ~ThreadTurn() {
    if (ticket_) t_thread.running_for = outer_;
  }

 private:
  const void* outer_;
  ThreadShare::Ticket ticket_;
};

RequestServer::RequestServer(const PeerOptions& options, const Endpoints& endpoints,
                             MethodTable& methods, MessageSender& sender,
                             InboundReassembly& reassembly, const PoolState& pool)
    : options_(options),
      endpoints_(endpoints),
      methods_(methods),
      sender_(sender),
      reassembly_(reassembly),
      pool_(pool),
      thread_share_(options.max_workers_per_uid != 0
                        ? options.max_workers_per_uid
                        : std::max<std::size_t>(1, options.max_workers * 3 / 4)) {}

// Sends, unless the receiver is congested, waiting for room in its buffer. False if the reply
// turned out larger than max_message_size as it went (escapes in a string checked on the
// way): the caller answers with an error instead.
inline bool RequestServer::send_reply_text(const Origin& origin, OutgoingText& buffer) {
  const std::uint64_t receiver = sender_key(origin.endpoint, origin.nl_pid);
  const bool wait = !congested_.congested(receiver);
  try {
    sender_.send(origin.endpoint, origin.nl_pid, PayloadType::response, buffer, wait);
  } catch (const std::exception& e) {
    const auto* transport = dynamic_cast<const TransportError*>(&e);
    if (transport != nullptr && transport->kind() == TransportError::Kind::too_large) {
      return false;
    }
    log(LogLevel::warning, "gave up reply to ", describe_sender(origin.nl_pid, origin.credentials),
        ": ", e.what());
    if (wait && transport != nullptr && transport->kind() == TransportError::Kind::timeout) {
      congested_.mark(receiver);
      log(LogLevel::warning, describe_sender(origin.nl_pid, origin.credentials),
          " does not read its replies; for ", CongestedReceivers::kHold.count(),
          " s replies to it that do not fit its receive buffer are dropped at once");
    }
  }
  return true;
}

namespace {

// Replaces the reply in `buffer` with a -32002 error for `id`.
void write_too_large(OutgoingText& buffer, const json& id) {
  buffer.clear();
  JsonRpcResponse::failure(id, {error_code::message_too_large, "Message too large",
                                "the reply exceeds the peer's max_message_size"})
      .append_to(buffer.text());
}

}  // namespace

inline void RequestServer::send_replies(const Origin& origin, JsonRpcResponse* single_reply,
                                        bool batch, const std::vector<JsonRpcResponse>& replies,
                                        OwnedBody* owned) {
  OutgoingText buffer;
  std::size_t replaced = 0;
  if (single_reply) {
    replaced = !append_response_or_error(buffer.text(), buffer.borrowed(), *single_reply);
  } else if (!append_replies(buffer.text(), buffer.borrowed(), batch, replies, &replaced)) {
    return;
  }
  if (replaced != 0) {
    log(LogLevel::warning, replaced, " result(s) to ",
        describe_sender(origin.nl_pid, origin.credentials), " nest deeper than ", kMaxJsonDepth,
        " levels; answered with internal errors instead");
  }
  const auto reply_id = [&] {
    return single_reply ? single_reply->id : batch ? json(nullptr) : replies.front().id;
  };
  if (const std::size_t size = buffer.size(); size > options_.max_message_size) {
    log(LogLevel::warning, "reply of ", size, " bytes to ",
        describe_sender(origin.nl_pid, origin.credentials), " exceeds max_message_size ",
        options_.max_message_size, "; answering with an error instead");
    write_too_large(buffer, reply_id());
  }
  if (!send_reply_text(origin, buffer)) {
    log(LogLevel::warning, "reply to ", describe_sender(origin.nl_pid, origin.credentials),
        " grew past max_message_size ", options_.max_message_size,
        " as its strings were escaped; answering with an error instead");
    write_too_large(buffer, reply_id());
    send_reply_text(origin, buffer);
  }
  // A large string result, sent now, becomes the buffer the next large message is assembled
  // in: an echo-like service then handles a stream of them in the same pages.
  if (owned && single_reply && !single_reply->is_error()) {
    if (json& result = std::get<0>(single_reply->outcome);
        result.is_string() && result.get_ref<const std::string&>().size() >= kAdoptMin) {
      reassembly_.recycle(std::move(result.get_ref<std::string&>()));
    }
  }
}

inline json RequestServer::run(JsonRpcRequest& request, const Origin& origin) {
  if (pool_.stopping.load(std::memory_order_relaxed)) {
    throw JsonRpcError(error_code::server_stopping, "Server stopping",
                       "the peer is stopping and runs no new requests");
  }
  MethodLease method;
  methods_.find(request.method, origin.credentials, method);
  if (!method.allowed()) {
    log(LogLevel::warning, "refused '", request.method, "' from ",
        describe_sender(origin.nl_pid, origin.credentials), " (gid ", origin.credentials.gid,
        "): not allowed by policy");
    throw JsonRpcError(error_code::access_denied, "Access denied",
                       "uid " + std::to_string(origin.credentials.uid) + " may not call '" +
                           request.method + "'");
  }
  if (!method) throw JsonRpcError(error_code::method_not_found, "Method not found");
  const ThreadTurn turn(*this, origin);
  CallContext context{origin.nl_pid, origin.credentials, endpoints_[origin.endpoint].netns(),
                      request.method, origin.seq};
  json result = request.params ? method->handler(std::move(*request.params), context)
                               : method->handler(json(), context);
  if (request.params) keep_params_array(*request.params);
  return result;
}

inline void RequestServer::dispatch(JsonRpcRequest& request, const Origin& origin,
                             std::optional<JsonRpcResponse>& reply) {
  // The request's id and params are moved where they go (never a copy or a temporary: each
  // json temporary costs a call to nlohmann's destroy). Once a request is known not to be a
  // notification its id is there, and the reply takes it (is_notification() still holds).
  try {
    json result = run(request, origin);
    if (request.is_notification()) return;
    JsonRpcResponse& success = reply.emplace();
    success.id.swap(*request.id);
    std::get<0>(success.outcome).swap(result);
  } catch (const JsonRpcError& e) {
    answer_failure(request, e.error(), e.what(), reply);
  } catch (const std::exception& e) {
    answer_failure(request, {error_code::internal_error, "Internal error", e.what()}, e.what(),
                   reply);
  } catch (...) {
    answer_failure(request, {error_code::internal_error, "Internal error", "unknown exception"},
                   nullptr, reply);
  }
}

inline bool RequestServer::serve_usual(const Origin& origin, std::string_view body) {
  JsonRpcRequest request;
  if (!read_request_layout(body, request, spare_params(), spare_string())) return false;
  std::optional<JsonRpcResponse> reply;
  dispatch(request, origin, reply);
  if (reply) {
    send_replies(origin, &*reply, false, {}, nullptr);
    if (!reply->is_error()) keep_string(std::get<0>(reply->outcome));
  }
  return true;
}

void RequestServer::serve(const Origin& origin, std::string_view body, OwnedBody* owned) {
  if (owned || !serve_usual(origin, body)) serve_general(origin, body, owned);
}

void RequestServer::serve_general(const Origin& origin, std::string_view body,
                                  OwnedBody* owned) {
  // The usual single request is read and answered without a list around it.
  std::optional<JsonRpcResponse> single_reply;
  std::vector<JsonRpcResponse> replies;
  bool batch = false;
  if (auto single = owned ? parse_single_request_taking(*owned) : parse_single_request(body)) {
    if (auto* request = std::get_if<JsonRpcRequest>(&single->content)) {
      dispatch(*request, origin, single_reply);
    } else {
      single_reply = std::move(std::get<JsonRpcResponse>(single->content));
    }
    if (!single_reply) return;  // a notification
  } else {
    ParsedRequestBody parsed = parse_request_body(body);
    batch = parsed.batch;
    if (parsed.whole_body_error) {
      replies.push_back(std::move(*parsed.whole_body_error));
    } else {
      replies = dispatch_batch(parsed.items, origin);
    }
  }
  send_replies(origin, single_reply ? &*single_reply : nullptr, batch, replies, owned);
}

std::vector<JsonRpcResponse> RequestServer::dispatch_batch(
    std::vector<ParsedRequestBody::Item>& items, const Origin& origin) {
  std::vector<std::optional<JsonRpcResponse>> out(items.size());
  std::atomic<std::size_t> next{0};
  const std::function<void()> work = [&] {
    for (std::size_t i = next++; i < items.size(); i = next++) {
      if (auto* request = std::get_if<JsonRpcRequest>(&items[i].content)) {
        dispatch(*request, origin, out[i]);
      } else {
        out[i] = std::move(std::get<JsonRpcResponse>(items[i].content));
      }
    }
  };
  // Elements are independent by the specification, so they may run at the same time.
  batch_runner_.run(std::min(items.size(), kBatchParallelism) - 1, work);
  std::vector<JsonRpcResponse> replies;
  for (auto& reply : out) {
    if (reply) replies.push_back(std::move(*reply));
  }
  return replies;
}

json RequestServer::stats() const {
  const auto [running, uids] = thread_share_.running();
  return {{"max_workers", options_.max_workers},
          {"per_uid", thread_share_.share()},
          {"running_handlers", running},
          {"running_uids", uids},
          {"refused_busy", thread_share_.refused()}};
}

// One line a second at most: a flood is refused by the thousand.
void RequestServer::log_busy(const Origin& origin) {
  const std::int64_t now = ticks_now();
  std::int64_t last = last_busy_log_.load(std::memory_order_relaxed);
  if (now - last < ticks(std::chrono::seconds(1)) ||
      !last_busy_log_.compare_exchange_strong(last, now)) {
    return;
  }
  log(LogLevel::warning, "refusing requests from ",
      describe_sender(origin.nl_pid, origin.credentials), ": uid ", origin.credentials.uid,
      " already runs ", thread_share_.share(), " of ", options_.max_workers,
      " serving threads (", thread_share_.refused(), " refused so far)");
}

}  // namespace procslink::detail
