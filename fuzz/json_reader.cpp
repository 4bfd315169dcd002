// Fuzz target: detail::read_json, the fast JSON reader, against nlohmann::json::parse.
//
// Both must accept or both reject every input, and an accepted value must be identical to
// nlohmann's, including the number type (integer, unsigned, float) and the sign of a zero. The
// first read's depth limit is above anything the input can reach (each level takes a byte), so
// only the syntax decides; a second read with a small limit may refuse exactly the values that
// nest deeper than it, and must give the same value otherwise. An error's offset lies within
// the input. Reading an object's members from a text the reader may take over (a long string
// adopting its buffer) gives the same members and the same error offsets as reading a view.
#include <bit>
#include <climits>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../src/json_reader.hpp"
#include "../tests/support/json_identical.hpp"
#include "fuzz_support.hpp"

using procslink::json;
using procslink::detail::JsonSyntaxError;
using procslink::detail::read_json;
using procslink::detail::read_json_members;
using procslink::detail::read_json_members_taking;

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

struct Members {
  std::vector<std::pair<std::string, json>> members;
  bool object = false;
  std::optional<std::size_t> error_at;
};

template <typename Read>
Members members_from(Read read) {
  Members out;
  try {
    out.object = read([&](const std::string& key, json&& value) {
      out.members.emplace_back(key, std::move(value));
    });
  } catch (const JsonSyntaxError& e) {
    out.error_at = e.offset();
  }
  return out;
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
  const Members viewed = members_from([&](const auto& sink) {
    return read_json_members(text, kSmallDepth, sink);
  });
  std::string owned(text);
  // Any string of 8 bytes or more that is half the text is adopted.
  const Members taken = members_from([&](const auto& sink) {
    return read_json_members_taking(owned, kSmallDepth, sink, 8);
  });
  FUZZ_CHECK(taken.object == viewed.object);
  FUZZ_CHECK(taken.error_at == viewed.error_at);
  FUZZ_CHECK(taken.members.size() == viewed.members.size());
  for (std::size_t i = 0; i < taken.members.size(); ++i) {
    FUZZ_CHECK(taken.members[i].first == viewed.members[i].first);
    FUZZ_CHECK(identical(taken.members[i].second, viewed.members[i].second));
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
