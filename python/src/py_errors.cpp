// py_errors.cpp - maps exceptions both ways between the C++ core and Python.
#include "py_errors.hpp"

#include <string>

#include "procslink/error.hpp"
#include "procslink/peer.hpp"
#include "py_json.hpp"

namespace py = pybind11;

namespace procslink::python {

namespace {
py::object errors_module() { return py::module_::import("procslink.errors"); }
}  // namespace

py::object to_python_exception(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const RemoteError& e) {
    py::object data = e.data() ? from_json(*e.data()) : py::none();
    return errors_module().attr("RemoteError")(e.code(), e.message(), data);
  } catch (const TransportError& e) {
    return errors_module().attr("TransportError")(std::string(to_string(e.kind())), e.what());
  } catch (const JsonRpcError& e) {
    py::object data = e.data() ? from_json(*e.data()) : py::none();
    return errors_module().attr("RemoteError")(e.code(), e.message(), data);
  } catch (const Error& e) {
    return errors_module().attr("ProcslinkError")(e.what());
  } catch (const py::error_already_set& e) {
    return e.value();
  } catch (const std::exception& e) {
    return py::module_::import("builtins").attr("RuntimeError")(e.what());
  }
}

void register_error_translator() {
  py::register_exception_translator([](std::exception_ptr error) {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const Error&) {
      py::object exception = to_python_exception(error);
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exception.ptr())), exception.ptr());
    }
  });
}

void throw_handler_error(py::error_already_set& error) {
  py::object value = error.value();
  py::object base = py::module_::import("procslink.jsonrpc").attr("JSONRPCError");
  if (py::isinstance(value, base)) {
    py::object data = value.attr("data");
    std::optional<json> json_data;
    if (!data.is_none()) json_data = to_json(data);
    throw JsonRpcError(value.attr("code").cast<int>(), value.attr("message").cast<std::string>(),
                       std::move(json_data));
  }
  throw JsonRpcError(-32603, "Internal error", json(std::string(py::str(value))));
}

}  // namespace procslink::python
