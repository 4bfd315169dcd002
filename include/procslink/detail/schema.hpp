// detail/schema.hpp - the JSON Schema of a handler's C++ parameter and result types, and the
// OpenRPC method description (params, result, param structure) that rpc.discover publishes for
// a function registered with RPCPeer::register_function. Machinery for peer.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "procslink/detail/typed_handler.hpp"
#include "procslink/jsonrpc.hpp"

namespace procslink::detail {

// The schema of T: integer (with its range when narrower than 64 bits), number, string,
// boolean, array (with its element schema), object (a map's value schema; a user type is an
// object), a std::optional as the inner schema or null, json as any ({}), void as null.
template <typename T>
json schema_of() {
  if constexpr (std::is_void_v<T>) {
    return {{"type", "null"}};
  } else if constexpr (is_optional_v<T>) {
    return {{"oneOf", json::array({schema_of<typename T::value_type>(), {{"type", "null"}}})}};
  } else if constexpr (std::is_same_v<T, bool>) {
    return {{"type", "boolean"}};
  } else if constexpr (std::is_integral_v<T>) {
    json schema = {{"type", "integer"}};
    if constexpr (sizeof(T) < sizeof(std::int64_t)) {
      schema["minimum"] = static_cast<std::int64_t>(std::numeric_limits<T>::min());
      schema["maximum"] = static_cast<std::int64_t>(std::numeric_limits<T>::max());
    } else if constexpr (std::is_unsigned_v<T>) {
      schema["minimum"] = 0;
    }
    return schema;
  } else if constexpr (std::is_floating_point_v<T>) {
    return {{"type", "number"}};
  } else if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view>) {
    return {{"type", "string"}};
  } else if constexpr (std::is_same_v<T, json>) {
    return json::object();
  } else if constexpr (is_mapping_v<T>) {
    return {{"type", "object"},
            {"additionalProperties", schema_of<std::decay_t<typename T::mapped_type>>()}};
  } else if constexpr (is_sequence_v<T>) {
    return {{"type", "array"}, {"items", schema_of<std::decay_t<typename T::value_type>>()}};
  } else {
    return {{"type", "object"}};
  }
}

// The OpenRPC method object (without its name) of a function taking A... and returning R:
// each JSON argument as {name, schema, required}, named after `names` or arg1, arg2, ...
template <typename R, typename... A>
json describe_method(const std::vector<std::string>& names) {
  json params = json::array();
  std::size_t index = 0;
  const std::size_t required = required_arguments<A...>();
  auto add = [&]<typename P>(std::type_identity<P>) {
    if constexpr (!is_context_v<P>) {
      const std::string name =
          index < names.size() ? names[index] : "arg" + std::to_string(index + 1);
      params.push_back({{"name", name},
                        {"schema", schema_of<std::decay_t<P>>()},
                        {"required", index < required}});
      ++index;
    }
  };
  (add(std::type_identity<A>{}), ...);
  (void)add;  // unused when A is empty
  return {{"params", std::move(params)},
          {"result", {{"name", "result"}, {"schema", schema_of<std::decay_t<R>>()}}},
          {"paramStructure", names.empty() ? "by-position" : "either"}};
}

// An untyped handler's description: its parameter names, if any, with any schema, and
// "x-untyped": true.
json describe_raw_method(const std::vector<std::string>& names);

}  // namespace procslink::detail
