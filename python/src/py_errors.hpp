// py_errors.hpp - the core's exceptions as the Python classes of procslink.errors.
#pragma once

#include <exception>

#include <pybind11/pybind11.h>

namespace procslink::python {

// The Python exception object for a core exception (RemoteError, TransportError, ...).
// Needs the GIL. Anything unknown becomes a RuntimeError.
pybind11::object to_python_exception(std::exception_ptr error);
// Installs the translator that raises those objects from bound functions.
void register_error_translator();
// A Python handler's exception (the error currently set) as the core's JsonRpcError:
// a procslink JSONRPCError keeps its code, message and data; anything else is -32603.
[[noreturn]] void throw_handler_error(pybind11::error_already_set& error);

}  // namespace procslink::python
