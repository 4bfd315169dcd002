// py_json.cpp - the Python <-> JSON value conversion used for params, results and error data.
#include "py_json.hpp"

#include <string>

namespace py = pybind11;

namespace procslink::python {

namespace {

json int_to_json(py::handle object) {
  int overflow = 0;
  const long long value = PyLong_AsLongLongAndOverflow(object.ptr(), &overflow);
  if (overflow == 0) return json(static_cast<std::int64_t>(value));
  const unsigned long long big = PyLong_AsUnsignedLongLong(object.ptr());
  if (PyErr_Occurred()) throw py::error_already_set();
  return json(static_cast<std::uint64_t>(big));
}

json dict_to_json(py::handle object) {
  json out = json::object();
  for (auto item : py::reinterpret_borrow<py::dict>(object)) {
    if (!py::isinstance<py::str>(item.first)) {
      throw py::type_error("JSON object keys must be str, not " +
                           std::string(py::str(item.first.get_type().attr("__name__"))));
    }
    out.emplace(item.first.cast<std::string>(), to_json(item.second));
  }
  return out;
}

json sequence_to_json(py::handle object) {
  json out = json::array();
  const auto sequence = py::reinterpret_borrow<py::sequence>(object);
  out.get_ref<json::array_t&>().reserve(sequence.size());
  for (auto item : sequence) out.push_back(to_json(item));
  return out;
}

}  // namespace

json to_json(py::handle object) {
  if (object.is_none()) return nullptr;
  if (PyBool_Check(object.ptr())) return object.ptr() == Py_True;
  if (PyLong_Check(object.ptr())) return int_to_json(object);
  if (PyFloat_Check(object.ptr())) return PyFloat_AS_DOUBLE(object.ptr());
  if (PyUnicode_Check(object.ptr())) {
    Py_ssize_t size = 0;
    const char* text = PyUnicode_AsUTF8AndSize(object.ptr(), &size);
    if (text == nullptr) throw py::error_already_set();
    return std::string(text, static_cast<std::size_t>(size));
  }
  if (PyList_Check(object.ptr()) || PyTuple_Check(object.ptr())) return sequence_to_json(object);
  if (PyDict_Check(object.ptr())) return dict_to_json(object);
  throw py::type_error("Object of type " + std::string(py::str(object.get_type().attr("__name__"))) +
                       " is not JSON serializable");
}

py::object from_json(const json& value) {
  switch (value.type()) {
    case json::value_t::null: return py::none();
    case json::value_t::boolean: return py::bool_(value.get<bool>());
    case json::value_t::number_integer: return py::int_(value.get<std::int64_t>());
    case json::value_t::number_unsigned: return py::int_(value.get<std::uint64_t>());
    case json::value_t::number_float: return py::float_(value.get<double>());
    case json::value_t::string: {
      const auto& s = value.get_ref<const std::string&>();
      return py::reinterpret_steal<py::object>(
          PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "surrogateescape"));
    }
    case json::value_t::array: {
      py::list out(value.size());
      std::size_t i = 0;
      for (const auto& item : value) out[i++] = from_json(item);
      return out;
    }
    case json::value_t::object: {
      py::dict out;
      for (const auto& [key, item] : value.items()) out[py::str(key)] = from_json(item);
      return out;
    }
    default: return py::none();  // binary and discarded values never come from the parser
  }
}

}  // namespace procslink::python
