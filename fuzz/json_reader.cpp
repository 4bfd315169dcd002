// Fuzz target: detail::read_json, the fast JSON reader, against nlohmann::json::parse.
//
// Both must accept or both reject every input, and an accepted value must be identical to
// nlohmann's, including the number type (integer, unsigned, float) and the sign of a zero. The
// first read's depth limit is above anything the input can reach (each level takes a byte), so
// only the syntax decides; a second read with a small limit may refuse exactly the values that
// nest deeper than it, and must give the same value otherwise. An error's offset lies within
// the input. Reading an object's members from a text the reader may take over (a long string
// adopting its buffer) gives the same members and the same error offsets as reading a view,
// and so does reading it in two pieces, split where a prefix of it ends inside a string, with
// the second piece's clean bytes up to a point taken as checked.
#include <algorithm>
#include <bit>
#include <climits>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../src/json_reader.hpp"
#include "../src/json_writer.hpp"
#include "../tests/support/json_identical.hpp"
#include "fuzz_support.hpp"

using procslink::json;
using procslink::detail::JsonSyntaxError;
using procslink::detail::read_json;
using procslink::detail::read_json_members;
using procslink::detail::read_json_members_taking;
using procslink::detail::MemberReceiver;

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
  std::string error;
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
    out.error = e.what();
  }
  return out;
}

// The members of the text read in two pieces, where its first `prefix` bytes end inside a
// string; nullopt when they do not.
std::optional<Members> members_in_two_pieces(std::string_view text, std::size_t prefix) {
  const auto open = procslink::detail::open_string_at_end(text.substr(0, prefix), kSmallDepth);
  if (!open) return std::nullopt;
  FUZZ_CHECK(open->content + open->clean <= prefix);
  std::string rest(text.substr(open->content));
  FUZZ_CHECK(procslink::detail::clean_prefix(rest, 0, open->clean) == open->clean);
  const std::size_t checked =
      std::max(open->clean, procslink::detail::clean_prefix(rest, 0, rest.size() / 2));
  return members_from([&](const auto& sink) {
    struct Receiver final : MemberReceiver {
      explicit Receiver(decltype(sink) s) : to(s) {}
      std::string* text_slot(std::string_view) override { return nullptr; }
      void take(std::string_view key, json&& value) override { to(std::string(key), std::move(value)); }
      decltype(sink) to;
    } receiver(sink);
    return read_json_members_taking(text.substr(0, open->content), rest, checked, kSmallDepth,
                                    receiver, 8);
  });
}

void check_same(const Members& got, const Members& want) {
  FUZZ_CHECK(got.object == want.object);
  FUZZ_CHECK(got.error_at == want.error_at);
  FUZZ_CHECK(got.error == want.error);
  FUZZ_CHECK(got.members.size() == want.members.size());
  for (std::size_t i = 0; i < got.members.size(); ++i) {
    FUZZ_CHECK(got.members[i].first == want.members[i].first);
    FUZZ_CHECK(identical(got.members[i].second, want.members[i].second));
  }
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
  check_same(taken, viewed);
  // Split within the first half, where a hash of the input says.
  if (size > 0) {
    const std::size_t prefix = std::hash<std::string_view>{}(text) % (size / 2 + 1);
    if (const auto two = members_in_two_pieces(text, prefix)) {
      check_same(*two, viewed);
    }
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
