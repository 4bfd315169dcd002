// module.cpp - procslink._core: the C++ peer and channel as Python classes. The GIL is released
// around every call that waits or does I/O; handlers and callbacks take it back while Python
// code runs. The friendly API (procslink.RPCPeer) is written in Python on top of this.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <Python.h>

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "procslink/discovery.hpp"
#include "procslink/log.hpp"
#include "procslink/peer.hpp"
#include "procslink/transport.hpp"
#include "py_call.hpp"
#include "py_errors.hpp"
#include "py_events.hpp"
#include "py_gil.hpp"
#include "py_handler.hpp"
#include "py_json.hpp"

namespace py = pybind11;
using namespace procslink;
using procslink::python::CoreThreadGil;
using procslink::python::from_json;
using procslink::python::to_json;

namespace {

// Destroys a peer with the GIL released: its destructor joins serving threads, which may be
// waiting for the GIL to finish a Python handler.
struct ReleasingDelete {
  void operator()(RPCPeer* peer) const {
    if (Py_IsInitialized() && PyGILState_Check()) {
      py::gil_scoped_release release;
      delete peer;
    } else {
      delete peer;
    }
  }
};
using PeerHolder = std::unique_ptr<RPCPeer, ReleasingDelete>;

// Routes the core's log lines to Python's logging module, logger "procslink".
void route_logging() {
  set_log_sink([](LogLevel level, std::string_view line) {
    if (!Py_IsInitialized()) return;
    static const int levels[] = {10, 20, 30, 40, 50};
    CoreThreadGil gil;
    try {
      py::module_::import("logging").attr("getLogger")("procslink").attr("log")(
          levels[static_cast<int>(level)], py::str(std::string(line)));
    } catch (py::error_already_set& e) {
      e.discard_as_unraisable("procslink: logging");
    }
  });
}

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0 + 0.5));
}

PeerOptions make_options(std::uint32_t nl_pid, std::string name, std::string netns,
                         std::vector<std::string> extra_netns, std::size_t workers,
                         double timeout, std::set<uid_t> uids, std::set<gid_t> gids) {
  PeerOptions options;
  options.nl_pid = nl_pid;
  options.name = std::move(name);
  options.netns = std::move(netns);
  options.extra_netns = std::move(extra_netns);
  options.workers = workers;
  options.timeout = to_ms(timeout);
  options.policy = AccessPolicy{std::move(uids), std::move(gids)};
  return options;
}

// Serves until stop() or a signal: the main thread waits in slices so that Ctrl-C's
// KeyboardInterrupt (raised by PyErr_CheckSignals) ends serving promptly.
void serve_forever(RPCPeer& peer) {
  {
    py::gil_scoped_release release;
    peer.start();
  }
  while (true) {
    {
      py::gil_scoped_release release;
      for (int i = 0; i < 5 && peer.serving(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (PyErr_CheckSignals() != 0) {
      py::error_already_set interrupted;  // fetched with the GIL held
      {
        py::gil_scoped_release release;
        peer.stop();
      }
      throw interrupted;
    }
    if (!peer.serving()) return;
  }
}

Channel with_call_options(Channel channel, std::optional<double> timeout,
                          std::optional<uid_t> require_uid) {
  if (timeout) channel = channel.with_timeout(to_ms(*timeout));
  if (require_uid) channel = channel.requiring_uid(*require_uid);
  return channel;
}

void call_async(const Channel& channel, const std::string& method, py::handle params,
                py::object done) {
  json body = to_json(params);
  auto shared = std::shared_ptr<py::object>(new py::object(std::move(done)), [](py::object* o) {
    CoreThreadGil gil;
    delete o;
  });
  py::gil_scoped_release release;
  channel.async_call_with(method, body, [shared](CallOutcome outcome) {
    CoreThreadGil gil;
    try {
      if (outcome.value.index() == 0) {
        (*shared)(true, from_json(std::get<0>(outcome.value)));
      } else {
        (*shared)(false, python::to_python_exception(std::get<1>(outcome.value)));
      }
    } catch (py::error_already_set& e) {
      e.discard_as_unraisable("procslink: async call callback");
    }
  });
}

py::list call_batch(const Channel& channel, py::list calls) {
  std::vector<std::pair<std::string, json>> requests;
  for (auto item : calls) {
    auto pair = item.cast<py::tuple>();
    requests.emplace_back(pair[0].cast<std::string>(), to_json(pair[1]));
  }
  std::vector<CallOutcome> outcomes;
  {
    py::gil_scoped_release release;
    outcomes = channel.call_batch(requests);
  }
  py::list out;
  for (auto& o : outcomes) {
    if (o.value.index() == 0) out.append(py::make_tuple(true, from_json(std::get<0>(o.value))));
    else out.append(py::make_tuple(false, python::to_python_exception(std::get<1>(o.value))));
  }
  return out;
}

// list_peers as plain Python values: ([(nl_pid, pid, process, uid, name, answered)], unseen).
py::tuple peers_of_namespace(const std::string& netns, double timeout, bool include_silent) {
  DiscoveryOptions options;
  options.netns = netns;
  options.timeout = std::chrono::milliseconds(static_cast<long>(timeout * 1000));
  options.include_silent = include_silent;
  Discovery found;
  {
    py::gil_scoped_release release;
    found = list_peers(options);
  }
  py::list peers;
  for (const PeerInfo& p : found.peers) {
    peers.append(py::make_tuple(p.socket.nl_pid, p.socket.pid, p.socket.process, p.socket.uid,
                                p.name, p.answered));
  }
  return py::make_tuple(peers, found.unseen);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "procslink's C++ core (use the procslink package, not this module)";
  python::register_error_translator();
  route_logging();
  m.def("port_id_for_name", [](const std::string& name) { return port_id_for_name(name); });
  m.def("list_peers", &peers_of_namespace, py::arg("netns"), py::arg("timeout"),
        py::arg("include_silent"));

  py::class_<Channel> channel(m, "Channel");
  channel
      .def_property_readonly("target", &Channel::target)
      .def("with_options", &with_call_options, py::arg("timeout"), py::arg("require_uid"),
           py::keep_alive<0, 1>())
      .def("call", &python::call)
      .def("notify", [](const Channel& c, const std::string& method, py::handle params) {
        json body = to_json(params);
        py::gil_scoped_release release;
        c.notify_with(method, body);
      })
      .def("call_async", &call_async)
      .def("call_batch", &call_batch);

  py::class_<RPCPeer, PeerHolder> peer(m, "Peer");
  peer
      .def(py::init([](std::uint32_t nl_pid, std::string name, std::string netns,
                       std::vector<std::string> extra_netns, std::size_t workers, double timeout,
                       std::set<uid_t> uids, std::set<gid_t> gids) {
             auto options = make_options(nl_pid, std::move(name), std::move(netns),
                                         std::move(extra_netns), workers, timeout, std::move(uids),
                                         std::move(gids));
             py::gil_scoped_release release;
             return PeerHolder(new RPCPeer(std::move(options)));
           }),
           py::arg("nl_pid"), py::arg("name"), py::arg("netns"), py::arg("extra_netns"),
           py::arg("workers"), py::arg("timeout"), py::arg("uids"), py::arg("gids"))
      .def_property_readonly("nl_pid", py::overload_cast<>(&RPCPeer::nl_pid, py::const_))
      .def("nl_pid_in", py::overload_cast<const std::string&>(&RPCPeer::nl_pid, py::const_))
      .def_property_readonly("name", &RPCPeer::name)
      .def_property_readonly("socket_fd", &RPCPeer::socket_fd)
      .def("register", [](RPCPeer& p, const std::string& name, py::object handler,
                          bool with_context) {
        p.register_raw(name, python::python_handler(std::move(handler),
                                                    with_context ? python::HandlerStyle::with_context
                                                                 : python::HandlerStyle::params));
      })
      .def("register_function", [](RPCPeer& p, const std::string& name, py::object function) {
        p.register_raw(name, python::python_handler(std::move(function),
                                                    python::HandlerStyle::spread));
      })
      .def("unregister", &RPCPeer::unregister)
      .def("method_names", &RPCPeer::method_names)
      .def("set_method_policy", [](RPCPeer& p, const std::string& method, std::set<uid_t> uids,
                                   std::set<gid_t> gids) {
        p.set_method_policy(method, AccessPolicy{std::move(uids), std::move(gids)});
      })
      .def("run_server_forever", &serve_forever)
      .def("start", &RPCPeer::start, py::call_guard<py::gil_scoped_release>())
      .def("stop", &RPCPeer::stop, py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("serving", &RPCPeer::serving)
      .def("talk_to", py::overload_cast<std::uint32_t, const std::string&>(&RPCPeer::talk_to),
           py::keep_alive<0, 1>(), py::call_guard<py::gil_scoped_release>())
      .def("talk_to_name", py::overload_cast<std::string_view>(&RPCPeer::talk_to),
           py::keep_alive<0, 1>(), py::call_guard<py::gil_scoped_release>());

  python::bind_events(m, channel, peer);
  python::bind_remote_method(m);
}
