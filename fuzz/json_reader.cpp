// Fuzz target: detail::read_json, the fast JSON reader, against nlohmann::json::parse.
//
// Both must accept or both reject every input, and an accepted value must be identical to
// nlohmann's, including the number type (integer, unsigned, float) and the sign of a zero. The
// first read's depth limit is above anything the input can reach (each level takes a byte), so
// only the syntax decides; a second read with a small limit may refuse exactly the values that
// nest deeper than it, and must give the same value otherwise. An error's offset lies within
// the input.
#include <bit>
#include <climits>
#include <cstdint>
#include <optional>
#include <string_view>

#include "../src/json_reader.hpp"
#include "../tests/support/json_identical.hpp"
#include "fuzz_support.hpp"

using procslink::json;
using procslink::detail::JsonSyntaxError;
using procslink::detail::read_json;

namespace {

constexpr int kSmallDepth = 4;

using procslink::test::identical;

// Nesting levels of arrays and objects: 0 for a scalar, 1 for "[]".
int depth_of(const json& value) {
  if (!value.is_structured()) return 0;
  int deepest = 0;
  for (const json& child : value) {
    const int depth = depth_of(child);
    if (depth > deepest) deepest = depth;
  }
  return deepest + 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  std::optional<json> theirs;
  try {
    theirs = json::parse(text);
  } catch (const json::exception&) {
  }
  std::optional<json> ours;
  try {
    ours = read_json(text, size < INT_MAX ? static_cast<int>(size) + 1 : INT_MAX);
  } catch (const JsonSyntaxError& e) {
    FUZZ_CHECK(e.offset() <= size);
  }
  FUZZ_CHECK(ours.has_value() == theirs.has_value());
  if (!ours) return 0;
  FUZZ_CHECK(identical(*ours, *theirs));

  try {
    const json shallow = read_json(text, kSmallDepth);
    FUZZ_CHECK(depth_of(*theirs) <= kSmallDepth);
    FUZZ_CHECK(identical(shallow, *theirs));
  } catch (const JsonSyntaxError&) {
    FUZZ_CHECK(depth_of(*theirs) > kSmallDepth);
  }
  return 0;
}
