// inbound_router.hpp - what happens to a received datagram: checked (framing, the sender's
// claimed nl_pid), reassembled if it is a fragment, and routed whole to the request server
// (a request) or to the call table (a reply). Called by every thread that receives: serving
// threads (WorkerPool) and lead callers (Caller).
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "call_table.hpp"
#include "endpoints.hpp"
#include "inbound_reassembly.hpp"
#include "request_server.hpp"
#include "serving_receiver.hpp"

namespace procslink::detail {

class InboundRouter {
 public:
  // `mutex`: the peer's, under which the call table lives.
  InboundRouter(Endpoints& endpoints, InboundReassembly& reassembly, ServingReceiver& receiver,
                RequestServer& server, CallTable& calls, std::mutex& mutex)
      : endpoints_(endpoints),
        reassembly_(reassembly),
        receiver_(receiver),
        server_(server),
        calls_(calls),
        mutex_(mutex) {}

  // Handles one datagram; whatever it cannot use it drops with a log line.
  void handle(const Incoming& incoming);

 private:
  // Reads the datagram's message; false when it is dropped (a wake-up, unframeable, or a forged
  // nl_pid).
  bool frame(const Incoming& incoming, ProcslinkMessage& message) const;
  // A fragment: added to its message, and the message handled once whole.
  void handle_fragment(const Incoming& incoming, const ProcslinkMessage& fragment, Origin& origin,
                       DrainingNow& draining);
  // `owned`: the reassembled buffers `body` lies in, if any (then `body` is owned->rest), which
  // a large string may take.
  void route(const Origin& origin, PayloadType type, std::string_view body, OwnedBody* owned);
  void deliver(const Origin& origin, std::string_view body, OwnedBody* owned);

  Endpoints& endpoints_;
  InboundReassembly& reassembly_;
  ServingReceiver& receiver_;
  RequestServer& server_;
  CallTable& calls_;
  std::mutex& mutex_;
};

}  // namespace procslink::detail
