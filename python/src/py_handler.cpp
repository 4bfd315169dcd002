// py_handler.cpp - runs a Python handler for the core: converts the params, calls, converts the
// result, with the fewest Python objects made on the way.
#include "py_handler.hpp"

#include <memory>
#include <utility>

#include "py_errors.hpp"
#include "py_gil.hpp"
#include "py_json.hpp"

namespace py = pybind11;

namespace procslink::python {
namespace {

py::tuple context_tuple(const CallContext& c) {
  return py::make_tuple(c.sender_nl_pid, c.credentials.pid, c.credentials.uid, c.credentials.gid,
                        c.netns, c.method);
}

// function(*params), function(**params) or function(): the array's items go straight into the
// argument tuple, with no list in between.
py::object call_spread(py::handle function, const json& params) {
  PyObject* result = nullptr;
  if (params.is_array()) {
    py::tuple args(params.size());
    std::size_t i = 0;
    for (const auto& item : params) {
      PyTuple_SET_ITEM(args.ptr(), static_cast<Py_ssize_t>(i++), from_json(item).release().ptr());
    }
    result = PyObject_Call(function.ptr(), args.ptr(), nullptr);
  } else if (params.is_object()) {
    py::object kwargs = from_json(params);
    result = PyObject_Call(function.ptr(), py::tuple().ptr(), kwargs.ptr());
  } else {
    result = PyObject_CallNoArgs(function.ptr());
  }
  if (result == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(result);
}

py::object call(py::handle handler, HandlerStyle style, const json& params,
                const CallContext& context) {
  switch (style) {
    case HandlerStyle::spread: return call_spread(handler, params);
    case HandlerStyle::params: return handler(from_json(params));
    case HandlerStyle::with_context: return handler(from_json(params), context_tuple(context));
  }
  return py::none();
}

}  // namespace

RawHandler python_handler(py::object handler, HandlerStyle style) {
  auto shared = std::shared_ptr<py::object>(new py::object(std::move(handler)), [](py::object* o) {
    CoreThreadGil gil;
    delete o;
  });
  return [shared, style](json&& params, const CallContext& context) -> json {
    CoreThreadGil gil;
    try {
      return to_json(call(*shared, style, params, context));
    } catch (py::error_already_set& e) {
      throw_handler_error(e);
    }
  };
}

}  // namespace procslink::python
