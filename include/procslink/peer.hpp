// peer.hpp - RPCPeer: register methods, serve them, and call other peers.
//
// A peer owns one netlink socket (plus one per extra network namespace it serves in) and a
// small elastic pool of threads that take turns waiting on all of them with one epoll set
// (leader/follower): the thread that receives a request runs its handler itself, so a request
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

#include "procslink/detail/schema.hpp"
#include "procslink/detail/typed_handler.hpp"
#include "procslink/jsonrpc.hpp"
#include "procslink/transport.hpp"

namespace procslink {

// The remote peer answered with a JSON-RPC error.
class RemoteError : public JsonRpcError {
 public:
  using JsonRpcError::JsonRpcError;
};

// What a handler may know about the call it is serving. Take `const CallContext&` as the
// first parameter of a handler to receive it.
struct CallContext {
  std::uint32_t sender_nl_pid = 0;
  Credentials credentials;  // as the kernel reported them (see README, "Trust")
  std::string netns;        // the network namespace the call came in through; "" = the peer's own
  std::string method;
};

// Allows callers by uid or gid. Empty sets allow everybody (the reference's behaviour).
struct AccessPolicy {
  std::set<uid_t> uids;
  std::set<gid_t> gids;
  bool allows(const Credentials& c) const {
    return (uids.empty() && gids.empty()) || uids.count(c.uid) != 0 || gids.count(c.gid) != 0;
  }
};

struct PeerOptions {
  std::uint32_t nl_pid = 0;  // 0: autobind (or derived from `name`)
  std::string name;          // service name; binds port_id_for_name(name)
  std::string netns;         // network namespace of the main socket; "" = the current one
  std::vector<std::string> extra_netns;  // also serve inside these (paths)
  std::size_t workers = 0;               // serving threads kept ready; 0 = number of cores
  std::size_t max_workers = 64;          // the pool grows to this while handlers are busy
  // Handlers one uid may run at once (0: three quarters of max_workers). Its requests beyond
  // that are answered -32004 "Server busy" (notifications dropped) while other uids are served.
  std::size_t max_workers_per_uid = 0;
  // How long a serving thread may run one handler before another thread takes its socket over:
  // about how long a slow handler delays the requests queued behind it. Also how often an idle
  // thread looks while requests come; on a CPU shared with the serving thread each look
  // preempts it (at 200 us the pinned echo's p99 was ~30 us, at 1 ms ~11 us; README).
  std::chrono::microseconds hand_off{1000};
  std::chrono::milliseconds timeout{5000};     // default call deadline
  std::chrono::microseconds spin{0};           // busy-poll before blocking (low-latency mode)
  // Low-latency mode: how often idle threads look whether the spinning thread is stuck in a
  // handler, to receive in its place. Each look wakes a thread; on a CPU shared with the
  // spinner that briefly preempts it, which is what sets the tail latency (README).
  std::chrono::microseconds spin_takeover{200};
  std::size_t max_message_size = 256u << 20;   // larger messages are refused, both ways
  std::size_t fragment_size = 64u << 10;       // body bytes per fragment (<= 256 KiB - 40)
  std::chrono::milliseconds reassembly_timeout{10000};
  // Bytes all incomplete fragmented messages together may hold (0: 2 * max_message_size). When
  // full, the uid holding the most gives way, so one uid's flood cannot starve another's
  // message; expired messages are freed on time (docs/security.md).
  std::size_t reassembly_budget = 0;
  std::chrono::milliseconds send_timeout{2000};  // how long a reply waits for a full receiver
  // After stop(), how long handlers already running may go on: meanwhile new requests are
  // answered -32003 "Server stopping" at once, and run_server_forever() returns when they are
  // done or this has passed (see stop()).
  std::chrono::milliseconds stop_grace{5000};
  AccessPolicy policy;
};

struct CallOptions {
  std::optional<std::chrono::milliseconds> timeout;  // default: the peer's
  std::optional<uid_t> require_uid;  // fail unless the answering process has this uid
};

// The params are handed over as an rvalue: the request is done with them, so a handler that
// takes them by value (json params) owns them without a copy. Handlers taking const json& work too.
using RawHandler = std::function<json(json&& params, const CallContext& context)>;

// An outcome delivered to an asynchronous callback: the result, or the exception
// (RemoteError, TransportError) the synchronous call would have thrown.
struct CallOutcome {
  std::variant<json, std::exception_ptr> value;
  // The result, or throws what the call failed with. A reference into the outcome: looking at
  // a result copies nothing; an rvalue outcome hands its result over.
  const json& get() const& {
    if (value.index() == 1) std::rethrow_exception(std::get<1>(value));
    return std::get<0>(value);
  }
  json get() && {
    if (value.index() == 1) std::rethrow_exception(std::get<1>(value));
    return std::move(std::get<0>(value));
  }
};

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
template <typename T>
inline constexpr bool kIsText = std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view> ||
                                std::is_same_v<T, const char*> || std::is_same_v<T, char*>;

// A positional argument as Channel::call writes it: a json argument where it is, a string's
// text as it is, anything else converted to json here. Neither copied nor moved once made.
template <typename T>
class HeldArg {
 public:
  explicit HeldArg(T&& arg) {
    using D = std::remove_cvref_t<T>;
    if constexpr (std::is_same_v<D, json>) {
      arg_.value = &arg;
    } else if constexpr (std::is_pointer_v<D> && kIsText<D>) {
      if (arg != nullptr) {
        arg_.text = std::string_view(arg);
      } else {
        converted_ = json(std::forward<T>(arg));  // throws, as json::array({json(arg)}) would
        arg_.value = &converted_;
      }
    } else if constexpr (kIsText<std::decay_t<D>>) {
      arg_.text = std::string_view(arg);
    } else {
      converted_ = json(std::forward<T>(arg));
      arg_.value = &converted_;
    }
  }
  HeldArg(const HeldArg&) = delete;
  HeldArg& operator=(const HeldArg&) = delete;
  const ParamArg& get() const { return arg_; }

 private:
  json converted_;
  ParamArg arg_;
};

// Calls `send(span of ParamArg)` with `args` held as HeldArg for the duration.
template <typename Send, typename... Args>
decltype(auto) with_param_args(Send&& send, Args&&... args) {
  if constexpr (sizeof...(Args) == 0) {
    return send(std::span<const ParamArg>());
  } else {
    const std::tuple<HeldArg<Args&&>...> held{std::forward<Args>(args)...};
    return std::apply(
        [&](const auto&... h) {
          const ParamArg list[] = {h.get()...};
          return send(std::span<const ParamArg>(list));
        },
        held);
  }
}
}  // namespace detail

namespace detail {
// Throws ResultTypeError for `method`'s `result`, which did not convert (`why`).
[[noreturn]] void throw_result_type_error(std::string_view method, const json& result,
                                          const char* why);
}  // namespace detail

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

  // Copies of this channel with other call options.
  Channel with_timeout(std::chrono::milliseconds timeout) const;
  Channel requiring_uid(uid_t uid) const;

 private:
  friend class RPCPeer;
  json call_positional(std::string_view method, std::span<const detail::ParamArg> args) const;
  void notify_positional(std::string_view method, std::span<const detail::ParamArg> args) const;
  Channel(RPCPeer* peer, std::uint32_t target, std::size_t endpoint)
      : peer_(peer), target_(target), endpoint_(endpoint) {}
  RPCPeer* peer_;
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

  struct Impl;

 private:
  friend class Channel;
  template <typename F, typename... A>
  static json describe(const std::vector<std::string>& names, std::tuple<A...>*) {
    return detail::describe_method<std::invoke_result_t<F&, A...>, A...>(names);
  }
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

  std::unique_ptr<Impl> impl_;
};

}  // namespace procslink
