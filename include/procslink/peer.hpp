// peer.hpp - RPCPeer: register methods, serve them, and call other peers.
//
// A peer owns one netlink socket (plus one per extra network namespace it serves in) and a
// small elastic pool of threads that take turns waiting on all of them with one epoll set:
// the thread that receives a request runs its handler itself, so a request
// costs no hand-off, and a slow handler never stops the others from receiving. A thread making
// a synchronous call on a peer that is not serving receives its own reply, so a client costs
// one wake-up per round trip, like a raw socket.
//
//   procslink::RPCPeer peer;
//   peer.register_function("subtract", [](int a, int b) { return a - b; },
//                          {"minuend", "subtrahend"});
//   peer.run_server_forever();            // until peer.stop(), from any thread or a signal
//
//   procslink::RPCPeer client;
//   int d = client.talk_to(server_nl_pid).call<int>("subtract", 42, 23);   // 19
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "procslink/detail/param_args.hpp"
#include "procslink/detail/schema.hpp"
#include "procslink/detail/typed_handler.hpp"
#include "procslink/jsonrpc.hpp"
#include "procslink/peer_options.hpp"
#include "procslink/transport.hpp"

namespace procslink {

class RPCPeer;

// A member function to register with register_functions_in_object.
template <typename M>
struct MemberMethod {
  std::string name;
  M method;
  std::vector<std::string> param_names;
};
template <typename M>
MemberMethod<M> method(std::string name, M method, std::vector<std::string> param_names = {}) {
  return {std::move(name), method, std::move(param_names)};
}


namespace detail {
struct PeerImpl;    // the peer's machinery (src/peer/)
struct PeerHandle;  // how a Channel or Subscription finds it, while the RPCPeer lives
// Throws ResultTypeError for `method`'s `result`, which did not convert (`why`).
[[noreturn]] void throw_result_type_error(std::string_view method, const json& result,
                                          const char* why);
}  // namespace detail

// A subscription to one publisher's event, made by Channel::subscribe. Move-only; destroying
// it (or cancel()) unsubscribes: its callback is not called again once cancel() has returned,
// unless it is running at that moment on another thread.
class Subscription {
 public:
  Subscription() = default;
  Subscription(Subscription&& other) noexcept { swap(other); }
  Subscription& operator=(Subscription&& other) noexcept {
    Subscription(std::move(other)).swap(*this);
    return *this;
  }
  ~Subscription() { cancel(); }

  const std::string& event() const { return event_; }
  bool active() const { return id_ != 0; }
  // How many of the publisher's events this subscription missed so far: those the publisher
  // could not send (its receive buffer was full), known when a later event arrives by the gap
  // in the events' numbers, and those dropped because 1,024 already waited for the callback.
  // Each loss counts with the first event numbered after it that runs: while the callback runs,
  // this is the events numbered before the one it runs that did not run (what a callback
  // reports beside its event).
  std::uint64_t missed() const;
  // Removes the callback and tells the publisher (rpc.unsubscribe as a notification, unless
  // another Subscription of this peer still wants the same event from it). Never throws.
  void cancel() noexcept { drop(true); }

 private:
  friend class Channel;
  void drop(bool tell_publisher) noexcept;
  Subscription(std::shared_ptr<detail::PeerHandle> peer, std::uint64_t id, std::string event)
      : peer_(std::move(peer)), id_(id), event_(std::move(event)) {}
  void swap(Subscription& other) noexcept {
    std::swap(peer_, other.peer_);
    std::swap(id_, other.id_);
    std::swap(event_, other.event_);
  }
  std::shared_ptr<detail::PeerHandle> peer_;
  std::uint64_t id_ = 0;
  std::string event_;
};

// A handle for calling one remote peer; cheap to copy. Made by RPCPeer::talk_to.
class Channel {
 public:
  std::uint32_t target() const { return target_; }

  // Calls `method` with positional arguments; returns the result converted to R (json by
  // default). Throws RemoteError for an error reply, ResultTypeError for a result that does not
  // convert to R, TransportError otherwise.
  template <typename R = json, typename... Args>
  R call(std::string_view method, Args&&... args) const {
    // The same request as call_with(method, json::array({json(args)...})), written without
    // building that array (or copying a json or string argument into it).
    json result = detail::with_param_args(
        [&](std::span<const detail::ParamArg> list) { return call_positional(method, list); },
        std::forward<Args>(args)...);
    if constexpr (std::is_same_v<R, json>) {
      return result;
    } else {
      try {
        if constexpr (std::is_same_v<R, std::string>) {
          // The reader made the string; it is handed over rather than copied.
          if (result.is_string()) return std::move(result.get_ref<std::string&>());
        }
        return result.get<R>();
      } catch (const json::exception& e) {
        detail::throw_result_type_error(method, result, e.what());
      }
    }
  }
  // Calls with named arguments, e.g. call_named("subtract", {{"minuend", 42}, {"subtrahend", 23}}).
  json call_named(std::string_view method, const json& named) const {
    return call_with(method, named);
  }
  // Calls with params given as JSON: an array, an object, or null for none.
  // `params` is written out as it is, never copied: pass large values by reference.
  json call_with(std::string_view method, const json& params) const;

  template <typename... Args>
  void notify(std::string_view method, Args&&... args) const {
    detail::with_param_args(
        [&](std::span<const detail::ParamArg> list) { notify_positional(method, list); },
        std::forward<Args>(args)...);
  }
  void notify_with(std::string_view method, const json& params) const;

  // Starts a call and returns at once; the future yields the result or throws as call() would.
  template <typename... Args>
  std::future<json> async_call(std::string_view method, Args&&... args) const {
    static_assert(!(std::is_invocable_v<std::decay_t<Args>, CallOutcome> || ...),
                  "async_call returns a future and takes no callback: for a callback write "
                  "async_call_with(method, json::array({args...}), callback)");
    return async_call_with(method, json::array({json(std::forward<Args>(args))...}));
  }
  std::future<json> async_call_with(std::string_view method, const json& params) const;
  // Callback form: `done` runs once on a peer thread (keep it short) with the outcome.
  void async_call_with(std::string_view method, const json& params,
                       std::function<void(CallOutcome)> done) const;

  // Sends a batch; returns one outcome per request, in request order (notifications, which
  // get no reply, are not allowed here: use notify).
  std::vector<CallOutcome> call_batch(const std::vector<std::pair<std::string, json>>& calls) const;

  // Subscribes to the remote peer's event `event` (rpc.subscribe): each event it emits then
  // runs `callback` with the event's params, on one of this peer's serving threads (a peer
  // that does not serve starts its threads for that, as for an asynchronous call). Events
  // from one publisher arrive in the order it emitted them. This peer answers the event's
  // name as a method from then on, to that publisher only; throws std::invalid_argument if
  // this peer already has a method of that name. Throws RemoteError (-32001 when the
  // publisher's policy refuses, -32004 past its subscription limits) or TransportError.
  [[nodiscard]] Subscription subscribe(const std::string& event, EventCallback callback) const;

  // Copies of this channel with other call options.
  Channel with_timeout(std::chrono::milliseconds timeout) const;
  Channel requiring_uid(uid_t uid) const;

 private:
  friend class RPCPeer;
  json call_positional(std::string_view method, std::span<const detail::ParamArg> args) const;
  void notify_positional(std::string_view method, std::span<const detail::ParamArg> args) const;
  Channel(std::shared_ptr<detail::PeerHandle> peer, std::uint32_t target, std::size_t endpoint)
      : peer_(std::move(peer)), target_(target), endpoint_(endpoint) {}
  // A channel may outlive its RPCPeer: a call through it then throws TransportError (kind
  // other) instead of touching freed memory.
  detail::PeerImpl& peer() const;
  std::shared_ptr<detail::PeerHandle> peer_;
  std::uint32_t target_;
  std::size_t endpoint_;
  CallOptions options_;
};

class RPCPeer {
 public:
  // Binds the socket(s). Throws TransportError (a taken name names its holder).
  explicit RPCPeer(PeerOptions options = {});
  ~RPCPeer();  // stops serving, fails calls in flight, joins every thread
  RPCPeer(const RPCPeer&) = delete;
  RPCPeer& operator=(const RPCPeer&) = delete;

  std::uint32_t nl_pid() const;
  // The port id this peer has inside `netns` (one of options.extra_netns, or "" for the main).
  std::uint32_t nl_pid(const std::string& netns) const;
  const std::string& name() const;
  // The file descriptor of the main socket (for poll() or getsockname(); the peer owns it).
  int socket_fd() const;

  // --- serving ---
  // Registers a function or lambda; typed arguments come from positional params, or from
  // named params when `param_names` are given. A first parameter `const CallContext&` receives
  // the call's context. Registering an existing name replaces it.
  template <typename F>
  void register_function(std::string name, F f, std::vector<std::string> param_names = {}) {
    using Args = typename detail::callable_traits<F>::args;
    json description = describe<F>(param_names, static_cast<Args*>(nullptr));
    RawHandler handler =
        detail::make_typed_handler(std::move(f), param_names, static_cast<Args*>(nullptr));
    register_described(std::move(name), std::move(handler), std::move(param_names),
                       std::move(description));
  }
  // Registers a handler that takes the params JSON as it came (null when absent).
  void register_raw(std::string name, RawHandler handler, std::vector<std::string> param_names = {});
  // Registers several member functions of `object` in one statement:
  //   peer.register_functions_in_object(calc, method("add", &Calc::add),
  //                                     method("sub", &Calc::sub, {"a", "b"}));
  template <typename Object, typename... Methods>
  void register_functions_in_object(Object& object, MemberMethod<Methods>... methods) {
    (register_member(object, std::move(methods)), ...);
  }
  // A serving thread may still hold an unregistered (or replaced) handler, and what it
  // captured, until it handles its next request; it never runs it again.
  void unregister(const std::string& name);
  std::vector<std::string> method_names() const;  // including the built-in rpc.* methods

  // Restricts callers for the whole peer, or for one method (checked after the peer's policy).
  void set_policy(AccessPolicy policy);
  void set_method_policy(const std::string& method, AccessPolicy policy);

  // Serves on the peer's threads until stop(), while this thread waits. Returns once the
  // handlers running at stop() have finished, or options.stop_grace after stop() if one has
  // not (it finishes on its own thread; serving() stays true until then and ~RPCPeer waits
  // for it).
  void run_server_forever();
  // Serves on background threads; returns at once.
  void start();
  // Asks serving to end; returns at once. Safe from any thread and from a signal handler. The
  // peer stops running new requests at once: until its running handlers finish (at most
  // options.stop_grace) one thread still receives, answering each new request -32003 "Server
  // stopping" (notifications are dropped) and taking replies to the handlers' own calls.
  void stop() noexcept;
  bool serving() const;

  // --- events ---
  // Sends the notification `event` with positional params to every subscriber of `event`
  // (rpc.subscribe), without waiting for any of them; returns how many it was sent to. A
  // subscriber whose port refuses datagrams is dropped; one whose receive buffer is full
  // misses this event (counted in rpc.stats). Events emitted by one thread reach each
  // subscriber in that order; emits from several threads at once have no order between them.
  // Throws TransportError(too_large) for params past max_message_size.
  template <typename... Args>
  std::size_t emit(std::string_view event, Args&&... args) {
    return emit_with(event, json::array({json(std::forward<Args>(args))...}));
  }
  // The same with params given as JSON (an array, an object, or null for none).
  std::size_t emit_with(std::string_view event, const json& params);
  // Declares an event this peer publishes: rpc.discover lists it ("x-events") and, with a
  // `policy`, only callers it allows may subscribe (others are refused -32001). Undeclared
  // events may be subscribed to by anybody the peer's own policy allows.
  void declare_event(std::string event, std::optional<AccessPolicy> policy = std::nullopt);
  // Subscriptions to this peer's events, in total.
  std::size_t subscription_count() const;

  // --- calling ---
  Channel talk_to(std::uint32_t nl_pid);
  // Calls through the socket this peer has inside `netns` (one of options.extra_netns).
  Channel talk_to(std::uint32_t nl_pid, const std::string& netns);
  // Resolves a service name and checks that the peer there answers to it (one round trip);
  // throws TransportError(wrong_peer) for a hash collision or a squatter.
  Channel talk_to(std::string_view service_name);
  // Hands back a result you are done with. A string result of 1 MiB or more, or the largest
  // such string directly inside an array or object result, becomes the buffer the next large
  // message is received in (a received large string takes over the buffer it arrived in, so
  // without this each one faults in and zeroes fresh pages). Optional; smaller values are
  // simply freed.
  void give_back(json&& value);

 private:
  friend class Channel;
  template <typename F, typename... A>
  static json describe(const std::vector<std::string>& names, std::tuple<A...>*) {
    return detail::describe_method<std::invoke_result_t<F&, A...>, A...>(names);
  }
  // rpc.subscribe and rpc.unsubscribe (peer_events.cpp).
  void register_event_methods();
  // `description`: the method's OpenRPC description (params, result), for rpc.discover.
  void register_described(std::string name, RawHandler handler, std::vector<std::string> param_names,
                          json description);
  template <typename Object, typename M>
  void register_member(Object& object, MemberMethod<M> m) {
    using Args = typename detail::callable_traits<M>::args;
    register_member_with(object, m, static_cast<Args*>(nullptr));
  }
  template <typename Object, typename M, typename... A>
  void register_member_with(Object& object, MemberMethod<M>& m, std::tuple<A...>*) {
    M fn = m.method;
    register_function(
        std::move(m.name), [&object, fn](A... a) { return (object.*fn)(std::forward<A>(a)...); },
        std::move(m.param_names));
  }

  std::unique_ptr<detail::PeerImpl> impl_;
  // What its channels and subscriptions hold: the machinery while this peer lives, null after
  // (they own none of it, so a handler that captures a channel makes no ownership cycle).
  std::shared_ptr<detail::PeerHandle> handle_;
};

}  // namespace procslink
