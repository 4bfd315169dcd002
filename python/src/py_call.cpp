// py_call.cpp - the synchronous call path from Python: params to JSON, the round trip with the
// GIL released once, the result back to Python.
#include "py_call.hpp"

#include <utility>

#include "py_json.hpp"

namespace py = pybind11;

namespace procslink::python {
namespace {

json call_json(const Channel& channel, const std::string& method, const json& params) {
  py::gil_scoped_release release;
  return channel.call_with(method, params);
}

}  // namespace

py::object call(const Channel& channel, const std::string& method, py::handle params) {
  return from_json(call_json(channel, method, to_json(params)));
}

py::object RemoteMethod::operator()(const py::args& args, const py::kwargs& kwargs) const {
  const bool positional = args.size() != 0;
  const bool named = kwargs.size() != 0;
  if (positional && named) {
    throw py::value_error(
        "RPC client: You can use index based parameter or name based parameter, but not both");
  }
  const json params = positional ? to_json(args) : named ? to_json(kwargs) : json(nullptr);
  return from_json(call_json(channel, name, params));
}

void bind_remote_method(py::module_& module) {
  py::class_<RemoteMethod>(module, "RemoteMethod")
      .def(py::init([](const Channel& channel, std::string name) {
             return RemoteMethod{channel, std::move(name)};
           }),
           py::keep_alive<1, 2>())
      .def("__call__", &RemoteMethod::operator())
      .def_readonly("name", &RemoteMethod::name)
      // A type cannot hold a `__name__` for its instances (type.__name__ is the type's own);
      // asked of an instance, it arrives here, after the ordinary lookup.
      .def("__getattr__", [](const RemoteMethod& m, const std::string& attribute) {
        if (attribute != "__name__") throw py::attribute_error(attribute);
        return m.name;
      })
      .def("__repr__", [](const RemoteMethod& m) {
        return "<procslink remote method " + m.name + " of nl_pid " +
               std::to_string(m.channel.target()) + ">";
      });
}

}  // namespace procslink::python
