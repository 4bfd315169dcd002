// append_json, the fast compact writer: byte for byte nlohmann's
// dump(-1, ' ', false, error_handler_t::replace) for every kind of value, every escape, valid
// UTF-8 wherever the 16-byte scan cuts it, ill-formed UTF-8 (where each U+FFFD goes and how
// many bytes it replaces), multi-MiB strings, and thousands of random values.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "../src/json_writer.hpp"
#include "../src/jsonrpc_text.hpp"
#include "../src/text_stream.hpp"

namespace procslink {
namespace {

using detail::append_json;

std::string reference(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string written(const json& value) {
  std::string out;
  append_json(out, value);
  return out;
}

// Strings with NULs or broken UTF-8 make unreadable failure messages; hex is what helps.
std::string hex(const std::string& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 0xf];
    out += ' ';
  }
  return out;
}

// The text append_json writes when it may borrow long runs, put back together.
std::string gathered(const json& value, std::vector<detail::BorrowedRun>* runs = nullptr) {
  std::string text = "<";
  std::vector<detail::BorrowedRun> borrowed;
  append_json(text, value, borrowed);
  std::vector<std::string_view> parts;
  detail::gather(text, borrowed, parts);  // offsets count from the start, prefix included
  std::string out;
  for (const std::string_view part : parts) out.append(part);
  for (const auto& run : borrowed) {
    if (run.bytes.size() < detail::kBorrowMin) return "a run shorter than kBorrowMin was borrowed";
  }
  if (runs != nullptr) *runs = borrowed;
  return out.substr(1);
}

::testing::AssertionResult same_as_dump(const json& value) {
  const std::string expected = reference(value);
  const std::string got = written(value);
  const std::string borrowing = gathered(value);
  if (borrowing != got) {
    return ::testing::AssertionFailure() << "borrowing long runs changes the text (sizes "
                                         << borrowing.size() << " vs " << got.size() << ")";
  }
  if (got == expected) return ::testing::AssertionSuccess();
  if (expected.size() > 4096) {
    std::size_t at = 0;
    while (at < got.size() && at < expected.size() && got[at] == expected[at]) ++at;
    return ::testing::AssertionFailure()
           << "sizes " << got.size() << " vs " << expected.size() << ", first difference at "
           << at;
  }
  return ::testing::AssertionFailure() << "\n  written: " << hex(got)
                                       << "\n  dump:    " << hex(expected);
}

// The string as a value and as an object key, alone and inside an array.
void expect_string_same(const std::string& text) {
  EXPECT_TRUE(same_as_dump(json(text))) << "string " << hex(text);
  EXPECT_TRUE(same_as_dump(json::object({{text, text}}))) << "key " << hex(text);
  EXPECT_TRUE(same_as_dump(json::array({text, 1, text}))) << "array " << hex(text);
}

TEST(JsonWriter, Scalars) {
  for (const json& value :
       {json(nullptr), json(true), json(false), json(0), json(-1), json(1), json(42u),
        json(std::numeric_limits<std::int64_t>::min()),
        json(std::numeric_limits<std::int64_t>::max()),
        json(std::numeric_limits<std::uint64_t>::max()), json(std::uint64_t{0}),
        json(std::int64_t{-10}), json(std::int64_t{1000000000000})}) {
    EXPECT_TRUE(same_as_dump(value)) << value;
  }
  EXPECT_EQ(written(json(std::numeric_limits<std::int64_t>::min())), "-9223372036854775808");
  EXPECT_EQ(written(json(std::numeric_limits<std::uint64_t>::max())), "18446744073709551615");
}

TEST(JsonWriter, Doubles) {
  const double values[] = {0.0,
                           -0.0,
                           1.0,
                           -1.0,
                           0.1,
                           0.5,
                           1e300,
                           -1e300,
                           5e-324,
                           2.2250738585072014e-308,
                           1.7976931348623157e308,
                           123456789.125,
                           1e15,
                           1e16,
                           1e17,
                           1e-4,
                           1e-5,
                           0.3,
                           2.0 / 3.0,
                           4294967296.0,
                           9007199254740993.0,
                           std::numeric_limits<double>::quiet_NaN(),
                           -std::numeric_limits<double>::quiet_NaN(),
                           std::numeric_limits<double>::infinity(),
                           -std::numeric_limits<double>::infinity()};
  for (const double value : values) EXPECT_TRUE(same_as_dump(json(value))) << value;
  EXPECT_EQ(written(json(1.0)), "1.0");
  EXPECT_EQ(written(json(-0.0)), "-0.0");
  EXPECT_EQ(written(json(1e300)), "1e+300");
  EXPECT_EQ(written(json(std::nan(""))), "null");
  EXPECT_EQ(written(json(-std::numeric_limits<double>::infinity())), "null");

  // Any bit pattern, and decimal fractions of every magnitude.
  std::mt19937_64 random(5);
  for (int i = 0; i < 20000; ++i) {
    const double any = std::bit_cast<double>(random());
    const double decimal = static_cast<double>(random() % 1000000) *
                           std::pow(10.0, static_cast<int>(random() % 80) - 40);
    ASSERT_TRUE(same_as_dump(json(any))) << any;
    ASSERT_TRUE(same_as_dump(json(decimal))) << decimal;
  }
}

TEST(JsonWriter, Binary) {
  // dump writes binary values as an object of their bytes and subtype; so must we.
  const json plain = json::binary({1, 2, 255, 0});
  EXPECT_EQ(reference(plain), R"({"bytes":[1,2,255,0],"subtype":null})");
  EXPECT_TRUE(same_as_dump(plain));
  EXPECT_TRUE(same_as_dump(json::binary({})));
  EXPECT_TRUE(same_as_dump(json::binary({7}, 42)));
  EXPECT_TRUE(same_as_dump(json::binary({}, 0)));
  EXPECT_TRUE(same_as_dump(json::binary({9, 8}, std::numeric_limits<std::uint64_t>::max())));
  EXPECT_TRUE(
      same_as_dump(json::array({json::binary({1}), json::object({{"b", json::binary({})}})})));
}

TEST(JsonWriter, Containers) {
  EXPECT_EQ(written(json::array()), "[]");
  EXPECT_EQ(written(json::object()), "{}");
  const json values[] = {
      json::array(),
      json::object(),
      json::array({json::array(), json::object(), json::array({json::array()})}),
      json::parse(R"({"a":1,"b":[true,null,"x"],"c":{"d":-5}})"),
      json::parse(R"([[[[[[[[["deep"]]]]]]]]])"),
      json::parse(R"({"":{"":{"":[]}},"k":[1,2.5,"s",{"x":{}}]})"),
  };
  for (const json& value : values) EXPECT_TRUE(same_as_dump(value)) << value;

  // Keys come out in the object's own (sorted) order, whatever the order of insertion.
  json object;
  object["zeta"] = 1;
  object["alpha"] = 2;
  object["Mid"] = 3;
  object["\xC3\xA9"] = 4;
  object[""] = 5;
  EXPECT_EQ(written(object), reference(object));
  EXPECT_EQ(written(object), "{\"\":5,\"Mid\":3,\"alpha\":2,\"zeta\":1,\"\xC3\xA9\":4}");

  json deep = 1;
  for (int i = 0; i < 500; ++i) deep = i % 2 ? json::array({deep}) : json::object({{"k", deep}});
  EXPECT_TRUE(same_as_dump(deep));
}

TEST(JsonWriter, AppendsWithoutTouchingWhatIsThere) {
  std::string out = "prefix:";
  append_json(out, json::array({"a", 1}));
  append_json(out, json("x\"y"));
  EXPECT_EQ(out, "prefix:[\"a\",1]\"x\\\"y\"");
}

TEST(JsonWriter, EveryEscape) {
  EXPECT_EQ(written(json("\"\\/\x7f")), "\"\\\"\\\\/\x7f\"");
  EXPECT_EQ(written(json(std::string("\0\x1f\b\t\n\f\r\x0b", 8))),
            "\"\\u0000\\u001f\\b\\t\\n\\f\\r\\u000b\"");
  for (int c = 0; c < 0x80; ++c) {
    const std::string one(1, static_cast<char>(c));
    expect_string_same(one);
    // At every offset across the 16- and 64-byte blocks of the scan and the tail.
    for (std::size_t at = 0; at < 80; at += 7) {
      std::string text(80, 'a');
      text[at] = static_cast<char>(c);
      expect_string_same(text);
      expect_string_same(text.substr(0, at + 1));
    }
  }
  std::string all;
  for (int c = 0; c < 0x80; ++c) all += static_cast<char>(c);
  expect_string_same(all);
  expect_string_same(std::string(100, '"'));
  expect_string_same(std::string(100, '\\'));
  expect_string_same(std::string(100, '\0'));
}

TEST(JsonWriter, ValidUtf8IsCopiedThroughAtEveryOffset) {
  const std::string sequences[] = {"\xC2\x80", "\xC3\xA9", "\xDF\xBF", "\xE0\xA0\x80",
                                   "\xE2\x82\xAC", "\xED\x9F\xBF", "\xEE\x80\x80",
                                   "\xEF\xBF\xBF", "\xF0\x90\x80\x80", "\xF0\x9F\x98\x80",
                                   "\xF4\x8F\xBF\xBF"};
  for (const std::string& sequence : sequences) {
    for (std::size_t at = 0; at < 70; ++at) {
      const std::string text = std::string(at, 'x') + sequence + std::string(at % 19, 'y');
      ASSERT_EQ(written(json(text)), "\"" + text + "\"") << hex(text);
      expect_string_same(text);
      expect_string_same(std::string(at, 'x') + sequence);
      expect_string_same(std::string(at, 'x') + sequence + "\n" + sequence + "\"");
    }
  }
  expect_string_same("Привет, мир! 你好，世界 🙂🙃 — ÄÖÜß");
}

TEST(JsonWriter, IllFormedUtf8IsReplacedLikeDump) {
  const std::string cases[] = {
      "\x80", "\xBF", "\x80\x80\x80", "\xC0", "\xC1", "\xC0\x80", "\xC1\xBF", "\xF5", "\xF8",
      "\xFE", "\xFF", "\xFF\xFE",
      // Overlong forms.
      "\xE0\x80\x80", "\xE0\x9F\xBF", "\xF0\x80\x80\x80", "\xF0\x8F\xBF\xBF",
      // Surrogates and beyond U+10FFFF.
      "\xED\xA0\x80", "\xED\xBF\xBF", "\xED\xA0\x80\xED\xB0\x80", "\xF4\x90\x80\x80",
      "\xF5\x80\x80\x80", "\xF7\xBF\xBF\xBF",
      // Truncated, then at the end, before ASCII, before an escape, before another lead.
      "\xC3", "\xE2\x82", "\xF0\x9F\x98", "\xE2", "\xF0", "\xF0\x9F", "\xC3" "A", "\xE2\x82" "A",
      "\xF0\x9F\x98" "A", "\xC3\"", "\xE2\x82\\", "\xF0\x9F\x98\n", "\xC3\xC3\xA9",
      "\xE2\xF0\x9F\x98\x80", "\xF0\x9F\x98\xC3\xA9\xE2\x82",
      // Too many continuation bytes.
      "\xC3\xA9\xA9", "\xE2\x82\xAC\x80\x80", "\xF0\x9F\x98\x80\xBF",
  };
  for (const std::string& bad : cases) {
    for (std::size_t at = 0; at < 40; ++at) {
      expect_string_same(std::string(at, 'x') + bad);
      expect_string_same(std::string(at, 'x') + bad + std::string(at % 17, 'y'));
      expect_string_same(std::string(at, 'x') + bad + "\xC3\xA9" + std::string(20, 'z'));
    }
  }
  // The exact text, so that a change on both sides is noticed too: one U+FFFD per maximal
  // prefix of a sequence, the byte that broke it read again.
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(written(json("a\xE0\x80\x80z")), "\"a" + fffd + fffd + fffd + "z\"");
  EXPECT_EQ(written(json("a\xF0\x9F\x98z")), "\"a" + fffd + "z\"");
  EXPECT_EQ(written(json("a\xF0\x9F\x98")), "\"a" + fffd + "\"");
  EXPECT_EQ(written(json("\xC3\"")), "\"" + fffd + "\\\"\"");
  EXPECT_EQ(written(json("\xED\xA0\x80")), "\"" + fffd + fffd + fffd + "\"");
  EXPECT_EQ(written(json("\xFF\xC3\xA9")), "\"" + fffd + "\xC3\xA9\"");
  EXPECT_EQ(written(json::object({{"k\x80", 1}})), "{\"k" + fffd + "\":1}");
}

TEST(JsonWriter, LongStrings) {
  // Clean ASCII: the one-append path.
  std::string clean(5 << 20, 'a');
  for (std::size_t i = 0; i < clean.size(); ++i) clean[i] = static_cast<char>('a' + i % 26);
  EXPECT_TRUE(same_as_dump(json(clean)));

  // Escapes and UTF-8 spread over MiBs, so they land at every alignment of the scan and of
  // dump's own 512-byte buffer.
  std::string mixed = clean;
  for (std::size_t i = 997; i + 4 < mixed.size(); i += 997) {
    switch ((i / 997) % 6) {
      case 0: mixed[i] = '"'; break;
      case 1: mixed[i] = '\n'; break;
      case 2: mixed[i] = '\x01'; break;
      case 3: mixed.replace(i, 2, "\xC3\xA9"); break;
      case 4: mixed.replace(i, 4, "\xF0\x9F\x98\x80"); break;
      case 5: mixed[i] = '\\'; break;
    }
  }
  EXPECT_TRUE(same_as_dump(json(mixed)));

  std::string broken = mixed;
  for (std::size_t i = 501; i < broken.size(); i += 1013) broken[i] = static_cast<char>(0xE2);
  EXPECT_TRUE(same_as_dump(json(broken)));
  EXPECT_TRUE(same_as_dump(json::object({{broken.substr(0, 100000), json::array({broken})}})));

  // Nothing but escapes: the output is six times the input.
  EXPECT_TRUE(same_as_dump(json(std::string(3 << 20, '\x01'))));
}

TEST(JsonWriter, LongCleanRunsAreBorrowedInPlaceNotCopied) {
  // Clean runs of 40000 bytes between escapes and UTF-8; one short string that stays copied.
  std::string text(200000, 'x');
  for (std::size_t i = 40000; i < text.size(); i += 40000) text[i] = '"';
  text.replace(120001, 2, "\xC3\xA9");
  const json value = json::array({text, "short", json::object({{"k", text}})});
  std::vector<detail::BorrowedRun> runs;
  EXPECT_EQ(gathered(value, &runs), reference(value));
  ASSERT_FALSE(runs.empty());
  const auto inside = [](const std::string& s, std::string_view run) {
    return run.data() >= s.data() && run.data() + run.size() <= s.data() + s.size();
  };
  std::size_t borrowed_bytes = 0;
  for (const auto& run : runs) {
    borrowed_bytes += run.bytes.size();
    EXPECT_TRUE(inside(value[0].get_ref<const std::string&>(), run.bytes) ||
                inside(value[2]["k"].get_ref<const std::string&>(), run.bytes));
  }
  // Everything but the escapes' neighbourhood is borrowed: both copies of the text, nearly.
  EXPECT_GT(borrowed_bytes, 2 * text.size() - 2 * 6 * 2);
  // Without a list to borrow into, nothing is left out.
  EXPECT_EQ(written(value), reference(value));
}

// A call's positional arguments are written where they lie, with no json array built around
// them (or json made of a string): the bytes must be append_request's for that array.
TEST(PositionalRequest, IsTheRequestWithTheArgumentsInAnArray) {
  std::string long_text(3 * detail::kBorrowMin, 'y');
  long_text[detail::kBorrowMin] = '\n';
  const json values[] = {nullptr, true, -7, 18446744073709551615u, 0.1, "caf\xC3\xA9",
                         json::array({1, "x"}), json::object({{"k", "v"}}), long_text};
  const std::string texts[] = {"", "plain", "quote \" backslash \\ tab \t nul " + std::string(1, '\0'),
                               "broken \xC3 utf-8 \xFF", long_text};
  const std::int64_t id = 42;
  const json id_value = id;
  auto positional = [&](std::vector<detail::ParamArg> args, const std::int64_t* request_id,
                        std::vector<detail::BorrowedRun>* runs) {
    std::string out = "kept";  // appended to, like any writer here
    detail::append_positional_request(out, runs, "m\u00e9th", args, request_id);
    std::vector<std::string_view> parts;
    if (runs != nullptr) detail::TextStream(out, *runs).take(SIZE_MAX, parts);
    std::string whole;
    for (auto part : parts) whole += part;
    return runs != nullptr ? whole : out;
  };
  auto expected = [&](const json& array, const json* request_id) {
    std::string out = "kept";
    detail::append_request(out, nullptr, "m\u00e9th", &array, request_id);
    return out;
  };
  EXPECT_EQ(positional({}, &id, nullptr), expected(json::array(), &id_value));
  for (const std::int64_t other : {std::int64_t{0}, std::int64_t{-1},
                                   std::numeric_limits<std::int64_t>::max(),
                                   std::numeric_limits<std::int64_t>::min()}) {
    const json other_value = other;
    EXPECT_EQ(positional({}, &other, nullptr), expected(json::array(), &other_value));
  }
  EXPECT_EQ(positional({}, nullptr, nullptr), expected(json::array(), nullptr));
  for (const json& value : values) {
    for (const std::string& text : texts) {
      const json array = json::array({value, text, value});
      const std::vector<detail::ParamArg> args = {{&value, {}}, {nullptr, text}, {&value, {}}};
      EXPECT_EQ(hex(positional(args, &id, nullptr)), hex(expected(array, &id_value)));
      std::vector<detail::BorrowedRun> runs;
      EXPECT_EQ(hex(positional(args, &id, &runs)), hex(expected(array, &id_value)));
      if (text.size() >= detail::kBorrowMin) {
        // The long text is sent from the caller's string, not copied.
        EXPECT_TRUE(std::any_of(runs.begin(), runs.end(), [&](const detail::BorrowedRun& run) {
          return run.bytes.data() >= text.data() && run.bytes.data() < text.data() + text.size();
        }));
      }
    }
  }
}

// Random values for the differential tests: strings drawn from bytes that matter to the writer.
class RandomJson {
 public:
  explicit RandomJson(std::uint32_t seed) : random_(seed) {}

  json value(int depth) {
    switch (pick(depth > 0 ? 10 : 7)) {
      case 0: return nullptr;
      case 1: return pick(2) == 1;
      case 2: return static_cast<std::int64_t>(bits() >> pick(64));
      case 3: return bits() >> pick(64);
      case 4: return number();
      case 5:
      case 6: return text();
      case 7: {
        std::vector<std::uint8_t> bytes(pick(6));
        for (auto& byte : bytes) byte = static_cast<std::uint8_t>(pick(256));
        return pick(2) ? json::binary(bytes) : json::binary(bytes, bits() >> pick(64));
      }
      case 8: {
        json array = json::array();
        for (std::size_t n = pick(6); n > 0; --n) array.push_back(value(depth - 1));
        return array;
      }
      default: {
        json object = json::object();
        for (std::size_t n = pick(6); n > 0; --n) object[text()] = value(depth - 1);
        return object;
      }
    }
  }

  // Mostly ASCII letters, with escapes, controls, DEL, UTF-8 of every length, its pieces and
  // bytes that are never UTF-8: the mix that ends runs and breaks sequences everywhere.
  std::string text() {
    static const std::string pieces[] = {
        "\"", "\\", "\n", "\x01", "\x1f", std::string(1, '\0'), "\x7f", "\xC3\xA9", "\xD0\x96",
        "\xE2\x82\xAC", "\xED\x9F\xBF", "\xF0\x9F\x98\x80", "\xF4\x8F\xBF\xBF", "\x80", "\xBF",
        "\xC0", "\xC1", "\xC3", "\xE0", "\xE0\xA0", "\xED", "\xED\xA0", "\xF0", "\xF0\x9F",
        "\xF0\x9F\x98", "\xF4\x90", "\xF5", "\xFF", "/", " "};
    std::string out;
    const std::size_t length = pick(8) == 0 ? pick(300) : pick(40);
    while (out.size() < length) {
      const std::size_t kind = pick(10);
      if (kind < 6) out += static_cast<char>('a' + pick(26));
      else if (kind < 9) out += pieces[pick(std::size(pieces))];
      else out += static_cast<char>(pick(256));
    }
    return out;
  }

  std::string random_bytes(std::size_t length) {
    std::string out(length, '\0');
    for (char& c : out) c = static_cast<char>(pick(256));
    return out;
  }

  std::size_t pick(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(random_);
  }
  std::uint64_t bits() { return random_(); }

 private:
  double number() {
    switch (pick(4)) {
      case 0: return static_cast<double>(static_cast<std::int64_t>(bits() >> pick(64)));
      case 1:
        return std::ldexp(static_cast<double>(bits() >> 11), static_cast<int>(pick(200)) - 100);
      case 2: return static_cast<double>(pick(100000)) / 1000.0;
      default: return std::bit_cast<double>(bits());  // any bits: subnormals, NaNs, infinities
    }
  }

  std::mt19937_64 random_;
};

json nested_arrays(int depth) {
  json value = json::array();
  for (int i = 1; i < depth; ++i) value = json::array({std::move(value)});
  return value;
}

bool too_large(const std::function<void()>& write) {
  try {
    write();
  } catch (const TransportError& e) {
    return e.kind() == TransportError::Kind::too_large;
  }
  return false;
}

// Every message the writers produce must be one the readers accept: a request's or reply's
// envelope counts as a level, and a batch reply's array as one more.
TEST(MessageDepth, WhatIsWrittenIsWhatEveryPeerReads) {
  const json id = 1;
  for (int depth : {kMaxJsonDepth - 1, kMaxJsonDepth}) {
    const json params = nested_arrays(depth);
    std::string text;
    auto write = [&] { detail::append_request(text, nullptr, "m", &params, &id); };
    if (depth == kMaxJsonDepth) {
      EXPECT_TRUE(too_large(write));
      continue;
    }
    write();
    const ParsedRequestBody parsed = parse_request_body(text);
    ASSERT_FALSE(parsed.whole_body_error) << parsed.whole_body_error->error().message;
    ASSERT_EQ(parsed.items.size(), 1u);
    EXPECT_EQ(std::get<JsonRpcRequest>(parsed.items[0].content).params, params);
  }
  const json ok = nested_arrays(kMaxJsonDepth - 2);
  const json deep = nested_arrays(kMaxJsonDepth - 1);
  std::string text;
  const std::vector<JsonRpcResponse> batch_ok{JsonRpcResponse::success(1, ok)};
  ASSERT_TRUE(detail::append_replies(text, nullptr, true, batch_ok));
  EXPECT_EQ(parse_response_body(text).at(0).result(), ok);
  // The replies owed go out all the same: one too deep becomes the internal error with its id.
  const std::vector<JsonRpcResponse> batch_deep{JsonRpcResponse::success(1, ok),
                                                JsonRpcResponse::success(2, deep)};
  text.clear();
  std::size_t replaced = 0;
  ASSERT_TRUE(detail::append_replies(text, nullptr, true, batch_deep, &replaced));
  EXPECT_EQ(replaced, 1u);
  const std::vector<JsonRpcResponse> read = parse_response_body(text);
  ASSERT_EQ(read.size(), 2u);
  EXPECT_EQ(read[0].result(), ok);
  EXPECT_EQ(read[1].id, 2);
  EXPECT_EQ(read[1].error().code, error_code::internal_error);
  EXPECT_TRUE(too_large([&] {
    detail::append_response(text, nullptr, JsonRpcResponse::failure(1, {1, "x", nested_arrays(kMaxJsonDepth)}));
  }));
  // Positional arguments sit inside the params array.
  const json arg_ok = nested_arrays(kMaxJsonDepth - 2);
  const json arg_deep = nested_arrays(kMaxJsonDepth - 1);
  const std::int64_t request_id = 1;
  std::vector<detail::ParamArg> args{{&arg_ok, {}}};
  text.clear();
  detail::append_positional_request(text, nullptr, "m", args, &request_id);
  EXPECT_FALSE(parse_request_body(text).whole_body_error);
  args[0].value = &arg_deep;
  EXPECT_TRUE(too_large([&] { detail::append_positional_request(text, nullptr, "m", args, &request_id); }));
}

TEST(JsonWriter, RandomValuesMatchDump) {
  for (std::uint32_t seed = 1; seed <= 4; ++seed) {
    RandomJson random(seed);
    for (int i = 0; i < 2500; ++i) {
      const json value = random.value(static_cast<int>(random.pick(5)));
      ASSERT_TRUE(same_as_dump(value)) << "seed " << seed << " value " << i;
    }
  }
}

TEST(JsonWriter, RandomLargeContainersMatchDump) {
  // Tens of KiB each: every kind of write meets the end of the writer's staging buffer.
  for (std::uint32_t seed = 100; seed < 110; ++seed) {
    RandomJson random(seed);
    json array = json::array();
    json object = json::object();
    for (int i = 0; i < 400; ++i) {
      array.push_back(random.value(2));
      object[random.text()] = random.value(1);
    }
    ASSERT_TRUE(same_as_dump(array)) << "seed " << seed;
    ASSERT_TRUE(same_as_dump(object)) << "seed " << seed;
  }
}

TEST(JsonWriter, RandomByteStringsMatchDump) {
  RandomJson random(20240601);
  for (int i = 0; i < 20000; ++i) {
    const std::string bytes = random.random_bytes(random.pick(i % 10 == 0 ? 600 : 70));
    ASSERT_TRUE(same_as_dump(json(bytes))) << "string " << i;
    ASSERT_TRUE(same_as_dump(json::object({{bytes, nullptr}}))) << "key " << i;
  }
  for (int i = 0; i < 20000; ++i) {
    const std::string text = random.text();
    ASSERT_TRUE(same_as_dump(json(text))) << "text " << i;
  }
}

TEST(JsonWriter, RandomValidUtf8IsCopiedThrough) {
  RandomJson random(77);
  for (int i = 0; i < 5000; ++i) {
    std::string text;
    for (std::size_t n = random.pick(60); n > 0; --n) {
      // Any scalar value: all of U+0000..U+10FFFF but the surrogates.
      std::uint32_t cp = static_cast<std::uint32_t>(random.pick(4) == 0 ? random.pick(0x80)
                                                                        : random.pick(0x110000));
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'S';
      if (cp < 0x80) {
        text += static_cast<char>(cp);
      } else if (cp < 0x800) {
        text += static_cast<char>(0xC0 | (cp >> 6));
        text += static_cast<char>(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        text += static_cast<char>(0xE0 | (cp >> 12));
        text += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        text += static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        text += static_cast<char>(0xF0 | (cp >> 18));
        text += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        text += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        text += static_cast<char>(0x80 | (cp & 0x3F));
      }
    }
    ASSERT_TRUE(same_as_dump(json(text))) << "text " << i;
  }
}

}  // namespace
}  // namespace procslink
