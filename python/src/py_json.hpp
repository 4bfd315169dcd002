// py_json.hpp - converts between Python objects and procslink::json (nlohmann) without text.
#pragma once

#include <pybind11/pybind11.h>

#include "procslink/jsonrpc.hpp"

namespace procslink::python {

// None, bool, int, float, str, list/tuple and dict with str keys; anything else: TypeError.
json to_json(pybind11::handle object);
pybind11::object from_json(const json& value);

}  // namespace procslink::python
