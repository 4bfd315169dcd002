// request_server.hpp - serves a request body: reads it (one request, or a batch), runs each
// request's handler under the access policy and the per-uid thread share, and sends the reply.
// Called by InboundRouter for every request message, on the thread that received it.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../jsonrpc_text.hpp"
#include "batch_runner.hpp"
#include "congested_receivers.hpp"
#include "endpoints.hpp"
#include "inbound_reassembly.hpp"
#include "message_sender.hpp"
#include "method_table.hpp"
#include "pool_state.hpp"
#include "procslink/jsonrpc.hpp"
#include "procslink/peer_options.hpp"
#include "thread_share.hpp"

namespace procslink::detail {

class RequestServer {
 public:
  RequestServer(const PeerOptions& options, const Endpoints& endpoints, MethodTable& methods,
                MessageSender& sender, InboundReassembly& reassembly, const PoolState& pool);

  // Serves a request message from `origin`. `owned`: the reassembled buffers `body` lies in, if
  // any (then `body` is owned->rest), which the request's largest string may take over (see
  // read_json_members_taking), and a large string reply gives back.
  void serve(const Origin& origin, std::string_view body, OwnedBody* owned);

  // Request handlers running now (each counted once), for a stopping peer's grace period.
  std::size_t handlers_running() const { return thread_share_.running().first; }
  // What the per-uid thread share holds and did (rpc.stats' "threads").
  json stats() const;

 private:
  class ThreadTurn;

  // A request as peers write it, read with the layout's bytes matched and answered without a
  // list or an item around it. False when the body is anything else.
  bool serve_usual(const Origin& origin, std::string_view body);
  // Any other request body: one request or a batch, valid or not.
  void serve_general(const Origin& origin, std::string_view body, OwnedBody* owned);
  // Runs a request's handler; `reply` (empty on entry) gets the reply, unless it is a
  // notification. An out parameter, so that the reply is built where it stays.
  void dispatch(JsonRpcRequest& request, const Origin& origin,
                std::optional<JsonRpcResponse>& reply);
  // The handler's result, or a throw of the JSON-RPC error to answer with.
  json run(JsonRpcRequest& request, const Origin& origin);
  std::vector<JsonRpcResponse> dispatch_batch(std::vector<ParsedRequestBody::Item>& items,
                                              const Origin& origin);
  // Sends the reply to a single request (`single_reply`), or else `replies`, an array if
  // `batch`. `owned`: as for serve.
  void send_replies(const Origin& origin, JsonRpcResponse* single_reply, bool batch,
                    const std::vector<JsonRpcResponse>& replies, OwnedBody* owned);
  bool send_reply_text(const Origin& origin, OutgoingText& buffer);
  void log_busy(const Origin& origin);

  const PeerOptions& options_;
  const Endpoints& endpoints_;
  MethodTable& methods_;
  MessageSender& sender_;
  InboundReassembly& reassembly_;
  const PoolState& pool_;
  CongestedReceivers congested_;
  ThreadShare thread_share_;
  std::atomic<std::int64_t> last_busy_log_{0};  // ticks
  BatchRunner batch_runner_;
};

}  // namespace procslink::detail
