// py_events.cpp - events for Python: the params converted each way, a Python callback run as an
// event callback (holding the GIL, its exception logged), and Subscription bound.
#include "py_events.hpp"

#include <pybind11/stl.h>

#include <memory>
#include <set>

#include "py_gil.hpp"
#include "py_handler.hpp"
#include "py_json.hpp"

namespace py = pybind11;

namespace procslink::python {

std::size_t emit(RPCPeer& peer, const std::string& event, py::handle params) {
  const json body = to_json(params);
  py::gil_scoped_release release;
  return peer.emit_with(event, body);
}

void declare_event(RPCPeer& peer, const std::string& event, py::object uids, py::object gids) {
  if (uids.is_none() && gids.is_none()) {
    peer.declare_event(event);
    return;
  }
  AccessPolicy policy;
  if (!uids.is_none()) policy.uids = uids.cast<std::set<uid_t>>();
  if (!gids.is_none()) policy.gids = gids.cast<std::set<gid_t>>();
  peer.declare_event(event, std::move(policy));
}

Subscription subscribe(const Channel& channel, const std::string& event, py::object callback) {
  // callback(params), on a serving thread with the GIL; its exception is logged by the core.
  RawHandler handler = python_handler(std::move(callback), HandlerStyle::params);
  EventCallback on_event = [handler = std::move(handler)](const json& params) {
    handler(json(params), CallContext{});
  };
  py::gil_scoped_release release;
  return channel.subscribe(event, std::move(on_event));
}

void bind_subscription(py::module_& module) {
  py::class_<Subscription>(module, "Subscription")
      .def_property_readonly("event", &Subscription::event)
      .def_property_readonly("active", &Subscription::active)
      .def_property_readonly("missed", &Subscription::missed)
      .def("cancel", &Subscription::cancel, py::call_guard<py::gil_scoped_release>());
}

}  // namespace procslink::python
