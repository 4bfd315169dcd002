// schema.cpp - the non-template half of detail/schema.hpp: an untyped handler's OpenRPC
// description, marked "x-untyped" (an OpenRPC extension field): its params are whatever the
// handler accepts.
#include "procslink/detail/schema.hpp"

namespace procslink::detail {

json describe_raw_method(const std::vector<std::string>& names) {
  json params = json::array();
  for (const auto& name : names) {
    params.push_back({{"name", name}, {"schema", json::object()}, {"required", true}});
  }
  return {{"params", std::move(params)},
          {"result", {{"name", "result"}, {"schema", json::object()}}},
          {"paramStructure", names.empty() ? "by-position" : "either"},
          {"x-untyped", true}};
}

}  // namespace procslink::detail
