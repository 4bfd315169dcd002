// py_events.hpp - events for Python: emit and declare_event on the core's Peer, subscribe on
// its Channel, and the Subscription handle.
#pragma once

#include <pybind11/pybind11.h>

#include "procslink/peer.hpp"

namespace procslink::python {

// Adds the event methods to the bound classes and binds Subscription.
template <typename PeerClass>
void bind_events(pybind11::module_& module, pybind11::class_<Channel>& channel, PeerClass& peer);

// What the template needs, out of line.
std::size_t emit(RPCPeer& peer, const std::string& event, pybind11::handle params);
void declare_event(RPCPeer& peer, const std::string& event, pybind11::object uids,
                   pybind11::object gids);
Subscription subscribe(const Channel& channel, const std::string& event, pybind11::object callback);
void bind_subscription(pybind11::module_& module);

template <typename PeerClass>
void bind_events(pybind11::module_& module, pybind11::class_<Channel>& channel, PeerClass& peer) {
  bind_subscription(module);
  channel.def("subscribe", &subscribe, pybind11::keep_alive<0, 1>());
  peer.def("emit", &emit).def("declare_event", &declare_event);
  peer.def("subscription_count", &RPCPeer::subscription_count);
}

}  // namespace procslink::python
