// json_identical.hpp - exact comparison of JSON values, for the reader's tests and fuzz target.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

#include <nlohmann/json.hpp>

namespace procslink::test {

// Same type and value all the way down. Unlike operator==, 1u and 1, or -0.0 and 0.0, differ.
inline bool identical(const nlohmann::json& a, const nlohmann::json& b) {
  using json = nlohmann::json;
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case json::value_t::array: {
      if (a.size() != b.size()) return false;
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (!identical(a[i], b[i])) return false;
      }
      return true;
    }
    case json::value_t::object: {
      if (a.size() != b.size()) return false;
      for (auto i = a.begin(), j = b.begin(); i != a.end(); ++i, ++j) {
        if (i.key() != j.key() || !identical(i.value(), j.value())) return false;
      }
      return true;
    }
    case json::value_t::number_float:
      return std::bit_cast<std::uint64_t>(a.get<double>()) ==
             std::bit_cast<std::uint64_t>(b.get<double>());
    default: return a == b;
  }
}

}  // namespace procslink::test
