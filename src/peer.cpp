// peer.cpp - RPCPeer and Channel: the public face of the peer, forwarding to its units
// (src/peer/, assembled in peer_impl.hpp), and the built-in rpc.* methods.
#include "procslink/peer.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <thread>

#include "json_reader.hpp"
#include "json_writer.hpp"
#include "peer/peer_impl.hpp"
#include "procslink/version.hpp"

namespace procslink {
namespace detail {
namespace {

PeerOptions normalized(PeerOptions options) {
  if (options.workers == 0) {
    const unsigned n = std::thread::hardware_concurrency();
    options.workers = n == 0 ? 2 : n;
  }
  options.hand_off = std::max(options.hand_off, std::chrono::microseconds(1));
  options.max_workers = std::max(options.max_workers, options.workers);
  if (options.fragment_size == 0 ||
      options.fragment_size > kMaxDatagramSize - kDatagramHeadersSize) {
    throw std::invalid_argument("PeerOptions::fragment_size must be 1.." +
                                std::to_string(kMaxDatagramSize - kDatagramHeadersSize) +
                                " bytes: a fragment's datagram must fit kMaxDatagramSize");
  }
  return options;
}

}  // namespace

PeerImpl::PeerImpl(PeerOptions opts)
    : options(normalized(std::move(opts))),
      endpoints(options),
      sender(endpoints, options.max_message_size, options.fragment_size),
      reassembly(options),
      calls([this] { lead.wake(); }),
      receiver(options, endpoints, pool),
      lead(options, endpoints, receiver, pool),
      server(options, endpoints, methods, sender, reassembly, pool),
      router(endpoints, reassembly, receiver, server, calls, mutex),
      workers(options, pool, mutex, endpoints, receiver, router, calls, lead, server),
      caller(options, {sender, calls, lead, router, receiver, workers, pool, mutex}),
      ports(endpoints, options.subscriber_check),
      subscriptions(options.max_subscriptions, options.max_subscriptions_per_uid != 0
                                                    ? options.max_subscriptions_per_uid
                                                    : options.max_subscriptions / 4) {
  methods.set_policy(options.policy);
}

}  // namespace detail

// ---- RPCPeer ----

RPCPeer::RPCPeer(PeerOptions options)
    : impl_(std::make_unique<detail::PeerImpl>(std::move(options))),
      handle_(std::make_shared<detail::PeerHandle>()) {
  handle_->impl.store(impl_.get());
  register_described("rpc.ping", [](const json&, const CallContext&) { return json(true); }, {},
                     detail::describe_method<bool>({}));
  register_raw("rpc.identity", [this](const json&, const CallContext&) {
    return json{{"name", impl_->options.name}, {"nl_pid", nl_pid()},
                {"pid", static_cast<long>(::getpid())}, {"uid", static_cast<long>(::getuid())}};
  });
  register_described(
      "rpc.stats",
      [this](const json&, const CallContext&) {
        return json{{"reassembly", impl_->reassembly.stats()},
                    {"threads", impl_->server.stats()},
                    {"events", impl_->subscriptions.stats()}};
      },
      {}, detail::describe_method<json>({}));
  // An OpenRPC document (https://spec.open-rpc.org), so OpenRPC tools work on a peer.
  register_described(
      "rpc.discover",
      [this](const json&, const CallContext&) {
        const std::string& title = impl_->options.name;
        return json{{"openrpc", "1.2.6"},
                    {"info", {{"title", title.empty() ? "procslink peer" : title},
                              {"version", std::string(kVersion)}}},
                    {"methods", impl_->methods.describe()},
                    {"x-events", impl_->subscriptions.describe()}};
      },
      {}, detail::describe_method<json>({}));
  register_event_methods();
}

RPCPeer::~RPCPeer() {
  stop();
  impl_->workers.join_all();
  handle_->impl.store(nullptr);  // its channels and subscriptions may no longer use it
  // Asynchronous calls still waiting would otherwise vanish with their callbacks (a future
  // would only report a broken promise): give each its outcome now that no thread receives.
  std::unique_lock lock(impl_->mutex);
  impl_->calls.fail_all_locked(lock, "the calling peer was destroyed");
}

std::uint32_t RPCPeer::nl_pid() const { return impl_->endpoints[0].nl_pid(); }

int RPCPeer::socket_fd() const { return impl_->endpoints[0].fd(); }

std::uint32_t RPCPeer::nl_pid(const std::string& netns) const {
  if (const auto i = impl_->endpoints.index_of(netns)) return impl_->endpoints[*i].nl_pid();
  throw TransportError(TransportError::Kind::other,
                       "this peer has no socket in network namespace '" + netns + "'");
}

const std::string& RPCPeer::name() const { return impl_->options.name; }

void RPCPeer::register_raw(std::string name, RawHandler handler,
                           std::vector<std::string> param_names) {
  json description = detail::describe_raw_method(param_names);
  register_described(std::move(name), std::move(handler), std::move(param_names),
                     std::move(description));
}

void RPCPeer::register_described(std::string name, RawHandler handler,
                                 std::vector<std::string> param_names, json description) {
  impl_->methods.add(std::move(name), std::move(handler), std::move(param_names),
                     std::move(description));
}

void RPCPeer::unregister(const std::string& name) { impl_->methods.remove(name); }

std::vector<std::string> RPCPeer::method_names() const { return impl_->methods.names(); }

void RPCPeer::set_policy(AccessPolicy policy) { impl_->methods.set_policy(std::move(policy)); }

void RPCPeer::set_method_policy(const std::string& method, AccessPolicy policy) {
  impl_->methods.set_method_policy(method, std::move(policy));
}

void RPCPeer::run_server_forever() {
  impl_->workers.start(impl_->options.workers, false);
  // This thread only waits: for stop(), then for the handlers still running (stop_grace).
  pollfd stop{impl_->stop_fd.fd(), POLLIN, 0};
  while (::poll(&stop, 1, -1) < 0 && errno == EINTR) {
  }
  impl_->stop_fd.clear();
  const auto until = impl_->workers.stop_deadline() + std::chrono::milliseconds(100);
  if (!impl_->workers.wait_stopped(until)) {
    return;  // a handler outlasts the grace period: its thread ends with it (~RPCPeer joins)
  }
  impl_->workers.join_all();
}

void RPCPeer::give_back(json&& value) {
  std::string* largest = nullptr;
  auto consider = [&](json& v) {
    if (v.is_string() && v.get_ref<std::string&>().size() >= detail::kAdoptMin &&
        (!largest || v.get_ref<std::string&>().size() > largest->size())) {
      largest = &v.get_ref<std::string&>();
    }
  };
  consider(value);
  if (value.is_array() || value.is_object()) {
    for (json& element : value) consider(element);
  }
  if (largest) impl_->reassembly.recycle(std::move(*largest));
  detail::release(value);
}

void RPCPeer::start() { impl_->workers.start(impl_->options.workers, false); }

void RPCPeer::stop() noexcept {
  impl_->workers.stop();
  impl_->stop_fd.signal();
}

bool RPCPeer::serving() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->pool.running;
}

Channel RPCPeer::talk_to(std::uint32_t nl_pid) { return Channel(handle_, nl_pid, 0); }

Channel RPCPeer::talk_to(std::uint32_t nl_pid, const std::string& netns) {
  if (const auto i = impl_->endpoints.index_of(netns)) return Channel(handle_, nl_pid, *i);
  throw TransportError(TransportError::Kind::other,
                       "this peer has no socket in network namespace '" + netns +
                           "' (open it with PeerOptions::extra_netns)");
}

Channel RPCPeer::talk_to(std::string_view service_name) {
  Channel channel(handle_, port_id_for_name(service_name), 0);
  json identity;
  try {
    identity = channel.call("rpc.identity");
  } catch (const RemoteError& e) {
    // A service whose policy refuses this caller refuses rpc.identity too; that refusal is the
    // answer the caller needs, not a suspicion of squatting.
    if (e.code() == error_code::access_denied) throw;
    identity = nullptr;
  } catch (const TransportError& e) {
    if (e.kind() != TransportError::Kind::no_peer) throw;
    throw TransportError(TransportError::Kind::no_peer,
                         "no peer serves the name '" + std::string(service_name) + "' (nl_pid " +
                             std::to_string(channel.target()) + ") in this network namespace");
  }
  const json* name = identity.is_object() ? &identity["name"] : nullptr;
  if (name == nullptr || !name->is_string() || *name != service_name) {
    throw TransportError(
        TransportError::Kind::wrong_peer,
        "nl_pid " + std::to_string(channel.target()) + " (the port for name '" +
            std::string(service_name) + "') answers as " +
            (name && name->is_string() && !name->get<std::string>().empty()
                 ? "'" + name->get<std::string>() + "'"
                 : std::string("an unnamed peer")) +
            ": a hash collision or a squatter, not the service asked for");
  }
  return channel;
}

// ---- Channel ----

inline detail::PeerImpl& Channel::peer() const {
  detail::PeerImpl* const peer = peer_->impl.load(std::memory_order_acquire);
  if (peer == nullptr) {
    throw TransportError(TransportError::Kind::other,
                         "this channel's RPCPeer was destroyed: it can no longer call");
  }
  return *peer;
}

json Channel::call_with(std::string_view method, const json& params) const {
  return peer().caller.call({target_, endpoint_, options_}, method, {&params, {}});
}

json Channel::call_positional(std::string_view method,
                              std::span<const detail::ParamArg> args) const {
  return peer().caller.call({target_, endpoint_, options_}, method, {nullptr, args});
}

void Channel::notify_with(std::string_view method, const json& params) const {
  peer().caller.notify({target_, endpoint_, options_}, method, {&params, {}});
}

void Channel::notify_positional(std::string_view method,
                                std::span<const detail::ParamArg> args) const {
  peer().caller.notify({target_, endpoint_, options_}, method, {nullptr, args});
}

std::future<json> Channel::async_call_with(std::string_view method, const json& params) const {
  auto promise = std::make_shared<std::promise<json>>();
  auto future = promise->get_future();
  // A future is there to be waited on, maybe by the thread draining the socket its reply comes to.
  peer().caller.call_async(
      {target_, endpoint_, options_}, method, params,
      [promise](CallOutcome outcome) {
        if (outcome.value.index() == 1) promise->set_exception(std::get<1>(outcome.value));
        else promise->set_value(std::move(std::get<0>(outcome.value)));
      },
      true);
  return future;
}

void Channel::async_call_with(std::string_view method, const json& params,
                              std::function<void(CallOutcome)> done) const {
  peer().caller.call_async({target_, endpoint_, options_}, method, params, std::move(done));
}

std::vector<CallOutcome> Channel::call_batch(
    const std::vector<std::pair<std::string, json>>& calls) const {
  return peer().caller.call_batch({target_, endpoint_, options_}, calls);
}

void detail::throw_result_type_error(std::string_view method, const json& result,
                                     const char* why) {
  constexpr std::size_t kShown = 200;
  std::string text = to_text(result);
  if (text.size() > kShown) {
    text = text.substr(0, kShown) + "... (" + std::to_string(text.size()) + " bytes)";
  }
  std::string what = "result of '" + std::string(method) +
                     "' does not convert to the requested type (" + why + "): " + text;
  throw ResultTypeError(std::string(method), std::move(text), what);
}

Channel Channel::with_timeout(std::chrono::milliseconds timeout) const {
  Channel copy = *this;
  copy.options_.timeout = timeout;
  return copy;
}

Channel Channel::requiring_uid(uid_t uid) const {
  Channel copy = *this;
  copy.options_.require_uid = uid;
  return copy;
}

}  // namespace procslink
