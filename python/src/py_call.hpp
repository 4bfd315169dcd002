// py_call.hpp - calling a remote method from Python: the synchronous call and the bound remote
// method (`channel.hello`) that the Python Channel hands out, each one C++ call per round trip.
#pragma once

#include <string>

#include <pybind11/pybind11.h>

#include "procslink/peer.hpp"

namespace procslink::python {

// `channel.call(method, params)`: converts the params, waits for the reply without the GIL,
// converts the result. Raises RemoteError / TransportError (py_errors.hpp).
pybind11::object call(const Channel& channel, const std::string& method, pybind11::handle params);

// One remote method of one channel, called like a Python function: positional arguments are
// sent as an array, keyword arguments as an object, both at once is a ValueError (as in
// procslink 0.1.2), none sends no params.
struct RemoteMethod {
  Channel channel;
  std::string name;

  pybind11::object operator()(const pybind11::args& args, const pybind11::kwargs& kwargs) const;
};

// Adds the RemoteMethod class to the module.
void bind_remote_method(pybind11::module_& module);

}  // namespace procslink::python
