// py_handler.hpp - Python callables as the core's RawHandler: what a serving thread runs for a
// request to a method registered from Python.
#pragma once

#include <pybind11/pybind11.h>

#include "procslink/peer.hpp"

namespace procslink::python {

// How the handler receives the request.
enum class HandlerStyle {
  spread,        // function(*params) for an array, function(**params) for an object, else ()
  params,        // handler(params)
  with_context,  // handler(params, (sender_nl_pid, pid, uid, gid, netns, method))
};

// The handler runs holding the GIL (kept per serving thread, py_gil.hpp); its exception
// becomes the JSON-RPC error (py_errors.hpp).
RawHandler python_handler(pybind11::object handler, HandlerStyle style);

}  // namespace procslink::python
