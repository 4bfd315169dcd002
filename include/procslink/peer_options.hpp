// peer_options.hpp - the values a peer is set up and called with: PeerOptions and
// AccessPolicy, a call's options, what a handler learns of the call it serves (CallContext),
// and what a call yields (CallOutcome, RemoteError). Included by peer.hpp.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

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
  // The procslinkhdr.seq of a request that came in one datagram (0 for a fragmented one, and
  // from the reference): the sender's message counter, or an event's number (PROTOCOL.md).
  std::uint32_t message_seq = 0;
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
  // preempts it briefly, which is what sets the pinned echo's p99 (docs/performance.md).
  std::chrono::microseconds hand_off{1000};
  std::chrono::milliseconds timeout{5000};     // default call deadline
  std::chrono::microseconds spin{0};           // busy-poll before blocking (low-latency mode)
  // Low-latency mode: how often a thread looks whether the spinning thread is stuck in a
  // handler, to wake idle threads that receive in its place (so also about how long a slow
  // handler delays the requests behind it). The looking thread runs at the lowest priority
  // (SCHED_IDLE), so its wake-ups do not preempt the spinner on a CPU they share; with every
  // serving thread on one CPU and a handler that never sleeps, its look may come a few
  // milliseconds late (docs/performance.md, spinning).
  std::chrono::microseconds spin_takeover{1000};
  std::size_t max_message_size = 256u << 20;   // larger messages are refused, both ways
  // Body bytes per fragment (at most 256 KiB - 40). The default makes each datagram 128 KiB
  // with its 40 header bytes: the kernel moves datagrams of a power-of-two size fastest (raw
  // netlink echoing 1 MiB on a 2-vCPU VM: 6.2 GB/s in 128 KiB datagrams, 4.7 in 64 KiB ones,
  // 2.0 in ones of 64 KiB + 40).
  std::size_t fragment_size = (128u << 10) - 40;
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
  // Subscriptions to this peer's events it keeps at most, and at most for one uid (0: a
  // quarter of max_subscriptions). When full, the uid holding the most gives way
  // (docs/security.md); a uid at its own limit is refused -32004.
  std::size_t max_subscriptions = 4096;
  std::size_t max_subscriptions_per_uid = 0;
  // How old the kernel's socket table may be when emit checks that each subscriber's port id is
  // still held by the socket that subscribed (port ids are reused); 0: read before every emit.
  // A process that binds a departed subscriber's port id may receive the events emitted up to
  // this long after the table was last read (PROTOCOL.md, Events).
  std::chrono::milliseconds subscriber_check{100};
};

struct CallOptions {
  std::optional<std::chrono::milliseconds> timeout;  // default: the peer's
  std::optional<uid_t> require_uid;  // fail unless the answering process has this uid
};

// The params are handed over as an rvalue: the request is done with them, so a handler that
// takes them by value (json params) owns them without a copy. Handlers taking const json& work too.
using RawHandler = std::function<json(json&& params, const CallContext& context)>;

// Receives an event's params (Channel::subscribe), on one of the subscribing peer's threads.
using EventCallback = std::function<void(const json& params)>;

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

}  // namespace procslink
