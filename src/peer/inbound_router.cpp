// inbound_router.cpp - checking, reassembling and routing received datagrams.
#include "inbound_router.hpp"

#include "../jsonrpc_text.hpp"
#include "procslink/log.hpp"
#include "thread_state.hpp"

namespace procslink::detail {

inline bool InboundRouter::frame(const Incoming& incoming, ProcslinkMessage& message) const {
  const ReceivedDatagram& d = incoming.datagram;
  if (endpoints_.is_wake(incoming)) return false;  // stop() waking a waiting drainer
  try {
    message = ProcslinkMessage::parse(d.bytes);
  } catch (const FramingError& e) {
    log(LogLevel::warning, "dropped ", d.bytes.size(), "-byte datagram from ",
        describe_sender(d.sender_nl_pid, d.credentials), ": ", e.what());
    return false;
  }
  if (message.netlink.pid != d.sender_nl_pid || d.sender_nl_pid == 0) {
    log(LogLevel::warning, "dropped datagram claiming nl_pid ", message.netlink.pid,
        " but sent from ", describe_sender(d.sender_nl_pid, d.credentials));
    return false;
  }
  return true;
}

inline void InboundRouter::route(const Origin& origin, PayloadType type, std::string_view body,
                          OwnedBody* owned) {
  if (type == PayloadType::request) {
    server_.serve(origin, body, owned);
  } else {
    deliver(origin, body, owned);
  }
}

void InboundRouter::handle(const Incoming& incoming) {
  ProcslinkMessage message;
  if (!frame(incoming, message)) return;
  const ReceivedDatagram& d = incoming.datagram;
  Origin origin{incoming.endpoint, d.sender_nl_pid, d.credentials,
                message.header.is_fragment() ? 0 : message.header.seq};
  // While a handler runs here, ServingReceiver::hand_back_socket finds this thread's socket.
  DrainingNow draining{&receiver_, incoming.endpoint, incoming.drain_stamp,
                       message.payload_type() == PayloadType::request};
  DrainingNow* const outer = t_thread.draining;
  // A datagram handled while this thread lands another message's fragments (a stray) drains
  // the same socket: it shares that stamp, but is a request or a reply of its own.
  if (!draining.stamp && outer && outer->receiver == &receiver_ &&
      outer->endpoint == incoming.endpoint) {
    draining.stamp = outer->stamp;
  }
  if (draining.stamp) t_thread.draining = &draining;
  struct Restore {
    DrainingNow* outer;
    ~Restore() { t_thread.draining = outer; }
  } restore{outer};
  if (message.header.is_fragment()) {
    handle_fragment(incoming, message, origin, draining);
  } else {
    route(origin, message.payload_type(), message.body, nullptr);
  }
}

void InboundRouter::handle_fragment(const Incoming& incoming, const ProcslinkMessage& fragment,
                                    Origin& origin, DrainingNow& draining) {
  InboundReassembly::Added added = reassembly_.add(incoming, fragment);
  std::optional<InboundReassembly::Complete> complete = std::move(added.complete);
  if (added.room_behind) {
    InboundReassembly::Landed landed =
        reassembly_.land(endpoints_[incoming.endpoint], incoming.endpoint,
                         incoming.datagram.sender_nl_pid, fragment.header.seq, origin);
    complete = std::move(landed.complete);
    if (const auto& stray = landed.stray) {
      handle(Incoming{incoming.endpoint,
                      ReceivedDatagram{stray->sender_nl_pid, stray->credentials, stray->bytes}});
    }
  }
  if (!complete) return;
  receiver_.mark_busy(incoming);
  draining.request = complete->payload_type == PayloadType::request;
  OwnedBody owned(complete->body, complete->head, complete->checked);
  route(origin, complete->payload_type, complete->body, &owned);
  if (!complete->body.empty()) reassembly_.recycle(std::move(complete->body));
}

void InboundRouter::deliver(const Origin& origin, std::string_view body, OwnedBody* owned) {
  // The usual single response is read without a list around it.
  std::optional<JsonRpcResponse> single;
  if (!owned && read_success_layout(body, single)) {
    std::unique_lock lock(mutex_);
    calls_.take_response_locked(origin, std::move(*single), lock);
    return;
  }
  std::vector<JsonRpcResponse> responses;
  try {
    single = owned ? parse_single_response_taking(*owned) : parse_single_response(body);
    if (!single) responses = parse_response_body(body);
  } catch (const FramingError& e) {
    log(LogLevel::warning, "dropped reply from ",
        describe_sender(origin.nl_pid, origin.credentials), ": ", e.what());
    return;
  }
  std::unique_lock lock(mutex_);
  if (single) {
    calls_.take_response_locked(origin, std::move(*single), lock);
  } else {
    for (auto& response : responses) calls_.take_response_locked(origin, std::move(response), lock);
  }
}

}  // namespace procslink::detail
