// peer_events.cpp - events, the peer's face: the built-in rpc.subscribe and rpc.unsubscribe
// and emit on the publisher's side (its Subscriptions), Channel::subscribe and Subscription on
// the subscriber's side (its EventSinks, reached through one method per event name).
#include <algorithm>
#include <string>

#include "peer/peer_impl.hpp"
#include "procslink/log.hpp"
#include "procslink/peer.hpp"

namespace procslink {
namespace {

// The event's name from rpc.subscribe's params: ["tick"] or {"event": "tick"}.
std::string event_name_of(const json& params) {
  const json* name = nullptr;
  if (params.is_array() && params.size() == 1) name = &params[0];
  if (params.is_object() && params.size() == 1 && params.contains("event")) name = &params["event"];
  if (name == nullptr || !name->is_string() || name->get_ref<const std::string&>().empty()) {
    throw JsonRpcError(error_code::invalid_params, "Invalid params",
                       "expected [\"event\"] or {\"event\": \"event\"}: one non-empty string");
  }
  return name->get<std::string>();
}

detail::SubscriberAddress sender_of(const detail::PeerImpl& impl, const CallContext& context) {
  return {impl.endpoints.index_of(context.netns).value_or(0), context.sender_nl_pid};
}

// The method an event arrives as on the subscriber: it hands the params to the callbacks of
// the publisher that sent it; from anybody else it is not a method.
void register_event_method(detail::PeerImpl& impl, const std::string& event) {
  const auto names = impl.methods.names();
  if (std::binary_search(names.begin(), names.end(), event)) {
    throw std::invalid_argument("cannot subscribe to '" + event +
                                "': this peer has a method of that name, and events arrive as "
                                "calls of a method named after them");
  }
  detail::PeerImpl* const peer = &impl;  // the method table lives in it
  impl.methods.add(
      event,
      [peer](json&& params, const CallContext& context) -> json {
        if (!peer->sinks.deliver(context.method, sender_of(*peer, context), params,
                                 context.message_seq)) {
          throw JsonRpcError(error_code::method_not_found, "Method not found");
        }
        return nullptr;
      },
      {}, detail::describe_raw_method({}));
}

}  // namespace

void RPCPeer::register_event_methods() {
  register_described(
      "rpc.subscribe",
      [this](json&& params, const CallContext& context) {
        const std::string event = event_name_of(params);
        if (!impl_->subscriptions.allows(event, context.credentials)) {
          log(LogLevel::warning, "refused a subscription to '", event, "' from ",
              detail::describe_sender(context.sender_nl_pid, context.credentials),
              ": not allowed by the event's policy");
          throw JsonRpcError(error_code::access_denied, "Access denied",
                             "uid " + std::to_string(context.credentials.uid) +
                                 " may not subscribe to '" + event + "'");
        }
        const detail::SubscriberAddress who = sender_of(*impl_, context);
        // The subscribing socket's inode, so that a later one at its port id is told apart.
        const auto table = impl_->ports.fresh(who.endpoint);
        const std::uint64_t inode = table ? detail::PortInodes::inode_of(*table, who.nl_pid) : 0;
        const auto added =
            impl_->subscriptions.add(event, who, context.credentials.uid, inode);
        if (added == detail::Subscriptions::Added::refused) {
          throw JsonRpcError(error_code::server_busy, "Server busy",
                             "subscription limit reached for uid " +
                                 std::to_string(context.credentials.uid));
        }
        return json(true);
      },
      {"event"}, detail::describe_method<bool, std::string>({"event"}));
  register_described(
      "rpc.unsubscribe",
      [this](json&& params, const CallContext& context) {
        return json(impl_->subscriptions.remove(event_name_of(params),
                                                sender_of(*impl_, context)));
      },
      {"event"}, detail::describe_method<bool, std::string>({"event"}));
}

namespace {

// Whether the socket that subscribed from `s` still holds its port id, by the kernel's table
// (a recent one; on a mismatch, one read now). Drops the subscription when it does not.
bool still_there(detail::PeerImpl& impl, const detail::Subscriber& s,
                 std::vector<std::shared_ptr<const detail::PortInodes::Table>>& tables) {
  if (s.inode == 0) return true;  // unknown: the table could not be read when it subscribed
  auto& table = tables[s.who.endpoint];
  if (!table) table = impl.ports.recent(s.who.endpoint);
  if (!table || detail::PortInodes::inode_of(*table, s.who.nl_pid) == s.inode) return true;
  table = impl.ports.fresh(s.who.endpoint);  // a table older than the subscription?
  if (!table) return true;
  const std::uint64_t current = detail::PortInodes::inode_of(*table, s.who.nl_pid);
  if (current == s.inode) return true;
  impl.subscriptions.remove_stale(s.who, current);
  return false;
}

// Sends one event to one subscriber without waiting; false when it was not sent (the
// subscriber gone, and dropped; or full, and the event counted as missed).
bool send_event(detail::PeerImpl& impl, std::string_view event, const detail::Subscriber& s,
                std::string_view body) {
  const detail::SubscriberAddress& to = s.who;
  try {
    impl.sender.send_event(to.endpoint, to.nl_pid, body, s.seq);
    impl.subscriptions.count(event, to, true);
    return true;
  } catch (const TransportError& e) {
    if (e.kind() == TransportError::Kind::too_large) throw;
    if (e.kind() == TransportError::Kind::no_peer) {
      impl.subscriptions.remove_all(to);  // gone: its port refuses datagrams
    } else {
      impl.subscriptions.count(event, to, false);  // full (or refused): this event missed
    }
    return false;
  }
}

}  // namespace

std::size_t RPCPeer::emit_with(std::string_view event, const json& params) {
  const std::vector<detail::Subscriber> subscribers = impl_->subscriptions.next_event(event);
  if (subscribers.empty()) return 0;
  std::string text;
  JsonRpcRequest::append_to(text, event, params.is_null() ? nullptr : &params, nullptr);
  if (text.size() > impl_->sender.max_message_size()) {
    throw TransportError(TransportError::Kind::too_large,
                         "event of " + std::to_string(text.size()) +
                             " bytes exceeds max_message_size " +
                             std::to_string(impl_->sender.max_message_size()));
  }
  std::vector<std::shared_ptr<const detail::PortInodes::Table>> tables(impl_->endpoints.size());
  std::size_t sent = 0;
  for (const detail::Subscriber& s : subscribers) {
    if (still_there(*impl_, s, tables) && send_event(*impl_, event, s, text)) ++sent;
  }
  return sent;
}

void RPCPeer::declare_event(std::string event, std::optional<AccessPolicy> policy) {
  json description = json::object();
  if (policy) description["x-restricted"] = true;
  impl_->subscriptions.declare(std::move(event), std::move(policy), std::move(description));
}

std::size_t RPCPeer::subscription_count() const { return impl_->subscriptions.size(); }

// ---- the subscriber's side ----

Subscription Channel::subscribe(const std::string& event, EventCallback callback) const {
  detail::PeerImpl& impl = peer();
  const auto added = impl.sinks.add(event, {endpoint_, target_}, std::move(callback),
                                    [&] { register_event_method(impl, event); });
  Subscription handle(peer_, added.id, event);
  // Events arrive as requests: something must receive them (a serving peer does already).
  impl.workers.start(impl.options.workers, false, true);
  try {
    call_with("rpc.subscribe", json::array({event}));
  } catch (...) {
    handle.drop(false);
    throw;
  }
  return handle;
}

std::uint64_t Subscription::missed() const {
  detail::PeerImpl* const peer = id_ == 0 ? nullptr : peer_->impl.load();
  return peer == nullptr ? 0 : peer->sinks.missed(id_);
}

void Subscription::drop(bool tell_publisher) noexcept {
  if (id_ == 0) return;
  const std::shared_ptr<detail::PeerHandle> handle = std::move(peer_);
  const std::uint64_t id = std::exchange(id_, 0);
  detail::PeerImpl* const peer = handle->impl.load();
  if (peer == nullptr) return;  // the peer is gone, and its callbacks with it
  try {
    const auto removed =
        peer->sinks.remove(id, [&](const std::string& event) { peer->methods.remove(event); });
    if (!tell_publisher || !removed.last_for_publisher) return;
    static const CallOptions kDefaults;
    const json params = json::array({removed.event});
    peer->caller.notify({removed.publisher.nl_pid, removed.publisher.endpoint, kDefaults},
                        "rpc.unsubscribe", {&params, {}});
  } catch (const std::exception& e) {
    log(LogLevel::debug, "unsubscribing from '", event_, "': ", e.what());
  }
}

}  // namespace procslink
