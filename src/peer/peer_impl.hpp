// peer_impl.hpp - the peer's machinery, assembled: every unit of src/peer/ held by value in the
// order they depend on each other (each takes references to those above it). RPCPeer and
// Channel (peer.cpp) reach the units through it.
//
// Units, bottom up:
//   clock, thread_state, file_descriptors, outgoing_text   helpers, header-only
//   Endpoints            the sockets
//   MessageSender        framing and sending
//   MethodTable          methods, policies, the per-thread method cache
//   InboundReassembly    fragments until whole
//   PoolState            the pool's counts and the stop request
//   CallTable            calls in flight
//   ServingReceiver      which serving thread reads which socket
//   CallerLead           callers receiving for themselves
//   RequestServer        requests to handlers to replies (with CongestedReceivers,
//                        ThreadShare, BatchRunner)
//   InboundRouter        a datagram to the request server or the call table
//   WorkerPool           the serving threads
//   Caller               the calls a Channel makes
//   PortInodes           which socket holds a port id now (subscribers' port-id reuse)
//   Subscriptions        a publisher's subscribers (rpc.subscribe, emit)
//   EventSinks           a subscriber's event callbacks (Channel::subscribe)
#pragma once

#include <atomic>
#include <mutex>

#include "call_table.hpp"
#include "caller.hpp"
#include "caller_lead.hpp"
#include "endpoints.hpp"
#include "event_sinks.hpp"
#include "file_descriptors.hpp"
#include "inbound_reassembly.hpp"
#include "inbound_router.hpp"
#include "message_sender.hpp"
#include "method_table.hpp"
#include "pool_state.hpp"
#include "port_inodes.hpp"
#include "procslink/peer.hpp"
#include "request_server.hpp"
#include "serving_receiver.hpp"
#include "subscriptions.hpp"
#include "worker_pool.hpp"

namespace procslink::detail {

struct PeerImpl {
  explicit PeerImpl(PeerOptions opts);

  const PeerOptions options;  // as given, with defaults filled in (normalized)
  Endpoints endpoints;
  PoolState pool;
  // Guards the call table, the lead caller and the pool's counts, which wake one another.
  std::mutex mutex;
  MethodTable methods;
  MessageSender sender;
  InboundReassembly reassembly;
  CallTable calls;
  ServingReceiver receiver;
  CallerLead lead;
  RequestServer server;
  InboundRouter router;
  WorkerPool workers;
  Caller caller;
  PortInodes ports;
  Subscriptions subscriptions;
  EventSinks sinks;
  EventFd stop_fd;  // written by stop(), for run_server_forever
};

// What a Channel or Subscription holds of its peer: the machinery while the RPCPeer lives,
// null once it is destroyed. The peer does not own its handle's holders' lifetime, nor they
// the peer's, so a handler that captures a channel to its own peer makes no ownership cycle.
struct PeerHandle {
  std::atomic<PeerImpl*> impl{nullptr};
};

}  // namespace procslink::detail
