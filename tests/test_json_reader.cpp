// detail::read_json, the fast JSON reader, checked case by case against nlohmann::json::parse:
// both must accept or both reject, and accepted values must be identical down to the number
// type (integer, unsigned, float) and the sign of a zero. Each case also states the verdict it
// expects, so that a surprise in nlohmann itself shows up too. Then the depth limit, which only
// the reader has, and a randomized differential run over generated and mutated documents.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "../src/json_reader.hpp"
#include "../src/json_writer.hpp"
#include "../src/json_scan.hpp"
#include "support/json_identical.hpp"

namespace procslink::detail {
namespace {

// Deep enough for every document here except the depth tests, which pass their own limit.
constexpr int kDepth = 512;

using procslink::test::identical;

// The text for a failure message: escaped, and cut short when long.
std::string printable(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < 200; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02X", c);
      out += hex;
    }
  }
  if (text.size() > 200) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

std::optional<json> nlohmann_parse(std::string_view text) {
  try {
    return json::parse(text);
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

std::optional<json> reader_parse(std::string_view text, int max_depth = kDepth) {
  try {
    return read_json(text, max_depth);
  } catch (const JsonSyntaxError&) {
    return std::nullopt;
  }
}

// read_json decides as nlohmann does, and equally; the verdict itself is not prescribed.
::testing::AssertionResult same_as_nlohmann(std::string_view text) {
  const std::optional<json> theirs = nlohmann_parse(text);
  const std::optional<json> ours = reader_parse(text);
  if (theirs.has_value() != ours.has_value()) {
    return ::testing::AssertionFailure()
           << (ours ? "read_json accepts" : "read_json rejects") << " but nlohmann "
           << (theirs ? "accepts" : "rejects") << ": " << printable(text);
  }
  if (ours && !identical(*ours, *theirs)) {
    return ::testing::AssertionFailure()
           << "values differ for " << printable(text) << ": read_json "
           << printable(ours->dump(-1, ' ', false, json::error_handler_t::replace)) << " ("
           << ours->type_name() << "), nlohmann "
           << printable(theirs->dump(-1, ' ', false, json::error_handler_t::replace)) << " ("
           << theirs->type_name() << ")";
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult accepted(std::string_view text) {
  if (!nlohmann_parse(text)) {
    return ::testing::AssertionFailure() << "nlohmann rejects " << printable(text);
  }
  return same_as_nlohmann(text);
}

::testing::AssertionResult rejected(std::string_view text) {
  if (nlohmann_parse(text)) {
    return ::testing::AssertionFailure() << "nlohmann accepts " << printable(text);
  }
  return same_as_nlohmann(text);
}

// The value read_json gives, which the test then inspects; fails the test on a rejection.
json read(std::string_view text) {
  EXPECT_TRUE(accepted(text));
  return reader_parse(text).value_or(json());
}

// The offset read_json reports for a text it must reject.
std::size_t error_offset(std::string_view text, int max_depth = kDepth) {
  try {
    read_json(text, max_depth);
  } catch (const JsonSyntaxError& e) {
    return e.offset();
  }
  ADD_FAILURE() << "read_json accepted " << printable(text);
  return std::string_view::npos;
}

std::string in_quotes(std::string_view body) { return "\"" + std::string(body) + "\""; }

std::string utf8(std::uint32_t code) {
  std::string out;
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xC0 | code >> 6);
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xE0 | code >> 12);
    out += static_cast<char>(0x80 | (code >> 6 & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | code >> 18);
    out += static_cast<char>(0x80 | (code >> 12 & 0x3F));
    out += static_cast<char>(0x80 | (code >> 6 & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
  return out;
}

std::string bytes(std::initializer_list<int> list) {
  std::string out;
  for (const int b : list) out += static_cast<char>(b);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Values, literals, whitespace, structure.

TEST(JsonReader, ReadsEveryValueKind) {
  EXPECT_TRUE(read("null").is_null());
  EXPECT_EQ(read("true"), json(true));
  EXPECT_EQ(read("false"), json(false));
  EXPECT_EQ(read("17").type(), json::value_t::number_unsigned);
  EXPECT_EQ(read("-17").type(), json::value_t::number_integer);
  EXPECT_EQ(read("1.5").type(), json::value_t::number_float);
  EXPECT_EQ(read(R"("text")"), json("text"));
  EXPECT_EQ(read("[]"), json::array());
  EXPECT_EQ(read("{}"), json::object());
  const json mixed = read(R"({"a":[1,-2,3.5,"x",true,false,null,{},[]],"b":{"c":{"d":[[]]}}})");
  EXPECT_EQ(mixed["a"].size(), 9u);
  EXPECT_EQ(mixed["b"]["c"]["d"], json::array({json::array()}));
  for (const char* text :
       {R"({"jsonrpc":"2.0","method":"echo","params":["hello world"],"id":17})",
        R"({"jsonrpc":"2.0","id":17,"result":["hello world"]})", R"([1,[2,[3,[4]]],{"k":"v"}])",
        R"({"":0,"a b":"c","\u00e9":"\u00e9"})", R"(["", " ", "\"", "a\\b"])"}) {
    EXPECT_TRUE(accepted(text));
  }
}

TEST(JsonReader, LiteralsMustBeExact) {
  for (const char* text : {"tru", "nul", "fals", "True", "NULL", "nulll", "truefalse", "t", "n",
                           "f", "nan", "NaN", "Infinity", "-Infinity", "undefined", "'a'"}) {
    EXPECT_TRUE(rejected(text));
  }
}

TEST(JsonReader, WhitespaceIsSpaceTabNewlineAndCarriageReturnOnly) {
  EXPECT_TRUE(accepted(" \t\r\n{ \t\r\n\"a\" \t\r\n: \t\r\n[ 1 , 2 ] \t\r\n, \"b\" : null } \n"));
  EXPECT_TRUE(accepted("\n\n\n1\n\n\n"));
  EXPECT_TRUE(accepted("[ ]"));
  EXPECT_TRUE(accepted("{ }"));
  for (const std::string space : {"\f", "\v", "\xC2\xA0", "\xE2\x80\x83", "\x1F", "\x7F"}) {
    EXPECT_TRUE(rejected(space + "1"));
    EXPECT_TRUE(rejected("1" + space));
    EXPECT_TRUE(rejected("[1," + space + "2]"));
  }
}

TEST(JsonReader, ObjectsAndArraysNeedTheirPunctuation) {
  for (const char* text :
       {"[", "]", "[1", "[1,", "[1,]", "[,1]", "[,]", "[1 2]", "[1,,2]", "[1;2]", "{", "}",
        R"({"a")", R"({"a":)", R"({"a":1)", R"({"a":1,})", R"({"a" 1})", R"({"a"=1})",
        R"({"a":1 "b":2})", R"({,})", R"({1:2})", R"({a:1})", R"({null:1})", R"({'a':1})",
        R"({"a":1]})", R"([1})", R"({"a":[}])", "[[]", "[]]", "{}}", "{{}}", R"({"a"})"}) {
    EXPECT_TRUE(rejected(text));
  }
}

TEST(JsonReader, DuplicateKeysKeepTheLastValueLikeNlohmann) {
  EXPECT_EQ(read(R"({"a":1,"a":2})"), json({{"a", 2}}));
  EXPECT_EQ(read(R"({"a":{"b":1},"b":0,"a":[2]})"), json({{"a", {2}}, {"b", 0}}));
  EXPECT_EQ(read(R"({"a":1,"\u0061":"escaped"})"), json({{"a", "escaped"}}));
  EXPECT_TRUE(accepted(R"({"z":1,"y":2,"x":3,"z":4,"y":{"y":5,"y":6},"x":[7]})"));
  EXPECT_TRUE(accepted(R"({"a":1,"a":2,"a":3,"a":{},"a":[],"a":null})"));
}

TEST(JsonReader, TrailingGarbageIsRejected) {
  for (const char* text : {"1 2", "{} x", "[]]", "nullx", "truee", R"("a""b")", R"("a" "b")",
                           "1,", "{},{}", "[] []", "0x", "1/", "1//comment", "1/*c*/", "1 #"}) {
    EXPECT_TRUE(rejected(text));
  }
}

TEST(JsonReader, EmptyInputIsRejected) {
  for (const char* text : {"", " ", "\n", " \t\r\n "}) EXPECT_TRUE(rejected(text));
  EXPECT_EQ(error_offset(""), 0u);
  EXPECT_EQ(error_offset("   "), 3u);
}

// nlohmann's lexer takes a NUL byte between tokens for the end of the input (it also parses
// C strings), so anything after one is never looked at; inside a value it is an error.
TEST(JsonReader, NulAfterTheValueEndsTheInputLikeNlohmann) {
  using namespace std::string_literals;
  EXPECT_EQ(read("1\0garbage"s), json(1u));
  EXPECT_TRUE(accepted("{\"a\":1} \0 ]]]"s));
  EXPECT_TRUE(accepted("null\0"s));
  for (const std::string& text : {"\0"s, "\0 1"s, " \0"s, "[\0]"s, "[1,\0]"s, "{\"a\":\0}"s,
                                 "tr\0e"s, "-\0"s, "1.\0"s, "\"a\0\""s}) {
    EXPECT_TRUE(rejected(text));
  }
}

TEST(JsonReader, LeadingByteOrderMarkIsSkippedLikeNlohmann) {
  EXPECT_EQ(read("\xEF\xBB\xBF{}"), json::object());
  EXPECT_TRUE(accepted("\xEF\xBB\xBF 1 "));
  for (const char* text : {"\xEF\xBB\xBF", "\xEF\xBB", "\xEF", "\xEF\xBB\xBF\xEF\xBB\xBF{}",
                           " \xEF\xBB\xBF{}", "\xEF\xBB\xBE{}", "\xFE\xFF{}", "\xBB\xBF{}"}) {
    EXPECT_TRUE(rejected(text));
  }
}

// ---------------------------------------------------------------------------------------------
// Strings.

TEST(JsonReader, ReadsAllEscapes) {
  EXPECT_EQ(read(R"("\"\\\/\b\f\n\r\t")"), json("\"\\/\b\f\n\r\t"));
  EXPECT_EQ(read(R"("a\u0041\u00e9\u20AC\uFFFF")"), json("aA\u00e9\u20ac\uffff"));
  EXPECT_EQ(read(R"("\u0000")").get_ref<const std::string&>(), std::string(1, '\0'));
  EXPECT_TRUE(accepted(R"("\u001f\u007F\u0080\u07ff\u0800\uD7FF\uE000\ufffe")"));
  EXPECT_TRUE(accepted(R"("\uaBcD\uAbCd\u0123\u4567\u89ab\ucdef")"));
  EXPECT_TRUE(accepted(R"("x\\\\y\\\"z\/\/")"));
  EXPECT_TRUE(accepted(R"({"\n":"\t","\u0000":"\u0000"})"));
}

TEST(JsonReader, RejectsInvalidEscapes) {
  for (const char* text :
       {R"("\a")", R"("\x41")", R"("\U0041")", R"("\'")", R"("\0")", R"("\ ")", R"("\u")",
        R"("\u1")", R"("\u12")", R"("\u123")", R"("\u12G4")", R"("\u-123")", R"("\u 123")",
        R"("\u+123")", R"("\u0x12")", R"("\)", R"("\\\")", R"("\)", "\"\\\xC3\xA9\""}) {
    EXPECT_TRUE(rejected(text));
  }
}

TEST(JsonReader, SurrogatePairsCombineAndLoneSurrogatesAreRejected) {
  EXPECT_EQ(read(R"("\uD83D\uDE00")"), json(utf8(0x1F600)));
  EXPECT_EQ(read(R"("\ud800\udc00")"), json(utf8(0x10000)));
  EXPECT_EQ(read(R"("\uDBFF\uDFFF")"), json(utf8(0x10FFFF)));
  EXPECT_TRUE(accepted(R"("a\uD83D\uDE00b\uDbFf\uDfFfc")"));
  for (const char* text :
       {R"("\uD83D")", R"("\uD83Dx")", R"("\uD83D\u0041")", R"("\uD83D\uD83D")",
        R"("\uD83D\uDBFF")", R"("\uD83D\uE000")", R"("\uDE00")", R"("\uDC00")", R"("\uDFFF")",
        R"("\uDE00\uD83D")", R"("\uDC00\uDC00")", R"("\uDFFF\uDE00")", R"("\uD83D\n")",
        R"("\uD83D\\uDE00")", R"("\uD83D\u")",
        R"("\uD83D\uDE0")", R"("\uD83D\uDE0G")", R"("\uD83D)", R"("\uD83D\)", R"("\uD83D\u)",
        R"("\uD83D\uDE0)", "\"\\uD83D\xED\xB8\x80\""}) {
    EXPECT_TRUE(rejected(text));
  }
}

TEST(JsonReader, ValidUtf8IsCopiedUnchanged) {
  const std::uint32_t codes[] = {0x80,   0x7FF,   0x800,   0xFFF,    0x1000,   0xD7FF,
                                 0xE000, 0xFFFD,  0xFFFF,  0x10000,  0x3FFFF,  0x40000,
                                 0xFFFFF, 0x100000, 0x10FFFF, 0xE9,  0x20AC,   0x1F600};
  for (const std::uint32_t code : codes) {
    SCOPED_TRACE(code);
    EXPECT_EQ(read(in_quotes(utf8(code))), json(utf8(code)));
    EXPECT_TRUE(accepted(in_quotes("ab" + utf8(code) + utf8(code) + "cd")));
  }
}

TEST(JsonReader, RejectsInvalidUtf8) {
  const std::string invalid[] = {
      // Overlong forms.
      bytes({0xC0, 0x80}), bytes({0xC1, 0xBF}), bytes({0xE0, 0x80, 0x80}),
      bytes({0xE0, 0x9F, 0xBF}), bytes({0xF0, 0x80, 0x80, 0x80}), bytes({0xF0, 0x8F, 0xBF, 0xBF}),
      // Surrogates encoded in UTF-8.
      bytes({0xED, 0xA0, 0x80}), bytes({0xED, 0xAF, 0xBF}), bytes({0xED, 0xB0, 0x80}),
      bytes({0xED, 0xBF, 0xBF}), bytes({0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80}),
      // Above U+10FFFF, and bytes that never occur.
      bytes({0xF4, 0x90, 0x80, 0x80}), bytes({0xF7, 0xBF, 0xBF, 0xBF}),
      bytes({0xF5, 0x80, 0x80, 0x80}), bytes({0xF8, 0x88, 0x80, 0x80, 0x80}),
      bytes({0xFC, 0x84, 0x80, 0x80, 0x80, 0x80}), bytes({0xFE}), bytes({0xFF}),
      // Truncated sequences, before the closing quote or before ASCII.
      bytes({0xC3}), bytes({0xE2, 0x82}), bytes({0xE2}), bytes({0xF0, 0x9F, 0x98}),
      bytes({0xF0, 0x9F}), bytes({0xF0}), bytes({0xC3, 0x41}), bytes({0xE2, 0x28, 0xA1}),
      bytes({0xF0, 0x9F, 0x41, 0x80}), bytes({0xE2, 0x82, 0xC3, 0xA9}),
      // Stray continuation bytes.
      bytes({0x80}), bytes({0xBF}), bytes({0x41, 0x80, 0x41}), bytes({0xC3, 0xA9, 0xA9}),
      bytes({0xE2, 0x82, 0xAC, 0x80})};
  for (const std::string& body : invalid) {
    EXPECT_TRUE(rejected(in_quotes(body)));
    EXPECT_TRUE(rejected(in_quotes("abc" + body + "def")));
    EXPECT_TRUE(rejected("{" + in_quotes(body) + ":1}"));
  }
  // Truncated at the very end of the input, and outside strings.
  EXPECT_TRUE(rejected("\"\xC3"));
  EXPECT_TRUE(rejected("\"\xF0\x9F\x98"));
  EXPECT_TRUE(rejected("\xC3\xA9"));
  EXPECT_TRUE(rejected("[\xC3\xA9]"));
}

// Every pair of bytes in a string, and every lead and second byte of the longer forms, against
// nlohmann's own table of valid sequences.
TEST(JsonReader, Utf8DecisionsMatchNlohmannForAllShortSequences) {
  for (int first = 0; first < 256; ++first) {
    for (int second = 0; second < 256; ++second) {
      ASSERT_TRUE(same_as_nlohmann(in_quotes(bytes({first, second}))));
    }
  }
  // Past the second byte only "continuation or not" matters, so a few stand for all.
  for (int first = 0xC0; first < 256; ++first) {
    for (int second = 0; second < 256; ++second) {
      for (const int third : {0x00, 0x22, 0x41, 0x7F, 0x80, 0xBF, 0xC0, 0xFF}) {
        ASSERT_TRUE(same_as_nlohmann(in_quotes(bytes({first, second, third}))));
        if (first < 0xF0) continue;
        for (const int fourth : {0x22, 0x80, 0xBF, 0xC0}) {
          ASSERT_TRUE(same_as_nlohmann(in_quotes(bytes({first, second, third, fourth}))));
        }
      }
    }
  }
}

TEST(JsonReader, ControlCharactersMustBeEscaped) {
  for (int c = 0; c < 0x20; ++c) {
    SCOPED_TRACE(c);
    const std::string control(1, static_cast<char>(c));
    EXPECT_TRUE(rejected(in_quotes(control)));
    EXPECT_TRUE(rejected(in_quotes("abcdefghijklmnopqrstuvwxyz" + control)));
    char escaped[8];
    std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
    EXPECT_TRUE(accepted(in_quotes(escaped)));
  }
  EXPECT_TRUE(accepted(in_quotes("\x7F")));
  EXPECT_EQ(error_offset("\"ab\x01\""), 3u);
}

TEST(JsonReader, UnterminatedStringsAreRejected) {
  for (const char* text : {"\"", "\"abc", "\"abc\\\"", "[\"abc]", "{\"a", "{\"a\":\"b}",
                           "\"0123456789abcdef0123456789abcdef"}) {
    EXPECT_TRUE(rejected(text));
  }
}

// ---------------------------------------------------------------------------------------------
// Numbers.

TEST(JsonReader, IntegersBecomeUnsignedIntegerOrFloatLikeNlohmann) {
  EXPECT_EQ(read("0").type(), json::value_t::number_unsigned);
  EXPECT_EQ(read("-0").type(), json::value_t::number_integer);
  EXPECT_EQ(read("18446744073709551615").get<std::uint64_t>(),
            std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(read("18446744073709551616").type(), json::value_t::number_float);
  EXPECT_EQ(read("9223372036854775807").type(), json::value_t::number_unsigned);
  EXPECT_EQ(read("-9223372036854775807").get<std::int64_t>(), -9223372036854775807);
  EXPECT_EQ(read("-9223372036854775808").get<std::int64_t>(),
            std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(read("-9223372036854775809").type(), json::value_t::number_float);
  for (const char* text :
       {"1", "-1", "9", "10", "4294967295", "4294967296", "-4294967296", "9223372036854775808",
        "9999999999999999999", "10000000000000000000", "99999999999999999999",
        "100000000000000000000", "-9999999999999999999", "-18446744073709551615",
        "-18446744073709551616", "184467440737095516150", "123456789012345678901234567890",
        "-123456789012345678901234567890", "[0,-0,1,-1]", "{\"n\":-9223372036854775808}"}) {
    EXPECT_TRUE(accepted(text));
  }
}

TEST(JsonReader, FractionsAndExponentsBecomeFloats) {
  EXPECT_EQ(read("1.0").type(), json::value_t::number_float);
  EXPECT_EQ(read("1e0").type(), json::value_t::number_float);
  EXPECT_TRUE(std::signbit(read("-0.0").get<double>()));
  EXPECT_TRUE(std::signbit(read("-0e5").get<double>()));
  for (const char* text :
       {"0.0", "-0.0", "0e0", "0E0", "0e+0", "0e-0", "1.5", "-1.5", "0.1", "3.141592653589793",
        "1e5", "1E5", "1e+5", "1E-5", "1.5e10", "-1.5E-10", "1e05", "1e-007", "2.5e+0",
        "123.456e-7", "1.7976931348623157e308", "-1.7976931348623157e308",
        "2.2250738585072014e-308", "2.2250738585072011e-308", "4.9e-324", "5e-324", "1e-310",
        "0.30000000000000004", "9007199254740993", "9007199254740993.0",
        // At, just below and just above the midpoint between 1 and the next double.
        "1.00000000000000011102230246251565404236316680908203125",
        "1.00000000000000011102230246251565404236316680908203124",
        "1.00000000000000011102230246251565404236316680908203126",
        "0.000000000000000000000000000000000000000000000000000000000000001e60"}) {
    EXPECT_TRUE(accepted(text));
  }
}

TEST(JsonReader, OverflowIsRejectedAndUnderflowGivesZeroLikeNlohmann) {
  for (const char* text :
       {"1e400", "-1e400", "1e309", "1.7976931348623159e308", "-1.7976931348623159e308",
        "1e99999999999999999999999999", "0.0001e313", "[1,1e400]", "{\"a\":1e400}"}) {
    EXPECT_TRUE(rejected(text));
  }
  EXPECT_EQ(read("1e-400").get<double>(), 0.0);
  EXPECT_TRUE(std::signbit(read("-1e-400").get<double>()));
  EXPECT_FALSE(std::signbit(read("1e-400").get<double>()));
  for (const char* text :
       {"1e-400", "-1e-400", "2.4703282292062327e-324", "2.4703282292062328e-324", "1e-324",
        "1e-99999999999999999999999999", "123456789e-340", "0e99999999999999999999999",
        "0.0e99999999999999999999999", "-0e-99999999999999999999", "1.7976931348623158e308",
        "100000e-329"}) {
    EXPECT_TRUE(accepted(text));
  }
  // Many digits and a huge exponent that cancel out, in both directions.
  const std::string zeros(400, '0');
  EXPECT_TRUE(accepted("0." + zeros + "1e400"));
  EXPECT_TRUE(accepted("1" + zeros + "e-400"));
  EXPECT_TRUE(accepted("0." + zeros + "1"));
  EXPECT_TRUE(rejected("1" + zeros));
  EXPECT_TRUE(rejected("-1" + zeros + ".5"));
  EXPECT_TRUE(accepted("0." + zeros + "1e-400"));
  EXPECT_TRUE(rejected("1" + zeros + "e1"));
}

TEST(JsonReader, MalformedNumbersAreRejected) {
  for (const char* text :
       {"-", "1.", ".5", "1e", "1E", "1e+", "1e-", "01", "-01", "00", "00.5", "+1", "1.e5",
        "1.5e", "0x10", "1e5.5", "--1", "-+1", "1e++5", "1e5e5", "1.5.3", "- 1", "1 .5", "1e 5",
        "2.", "-.5", "-e5", "e5", "1ee5", "[-]", "[1.]", "{\"a\":.5}", "0.e1", "1_000"}) {
    EXPECT_TRUE(rejected(text));
  }
}

// from_chars and strtod must round alike, including exact halfway cases.
TEST(JsonReader, FloatRoundingMatchesNlohmann) {
  std::mt19937_64 rng(20240601);
  char text[900];
  for (int i = 0; i < 4000; ++i) {
    double value;
    do {
      value = std::bit_cast<double>(rng());
    } while (!std::isfinite(value));
    std::snprintf(text, sizeof text, "%.17g", value);
    ASSERT_TRUE(accepted(text));
    std::snprintf(text, sizeof text, "%.*e", static_cast<int>(rng() % 25), value);
    ASSERT_TRUE(accepted(text));
    // The exact decimal midpoint between value and its neighbour: ties go to even.
    const double next = std::nextafter(value, std::numeric_limits<double>::infinity());
    if (std::isfinite(next)) {
      const long double middle = (static_cast<long double>(value) + next) / 2;
      std::snprintf(text, sizeof text, "%.800Le", middle);
      ASSERT_TRUE(accepted(text));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The depth limit, which nlohmann does not have.

std::string nested_arrays(int depth) {
  return std::string(static_cast<std::size_t>(depth), '[') +
         std::string(static_cast<std::size_t>(depth), ']');
}

std::string nested_objects(int depth) {
  std::string text;
  for (int i = 0; i < depth; ++i) text += "{\"a\":";
  text += "1";
  text += std::string(static_cast<std::size_t>(depth), '}');
  return text;
}

TEST(JsonReader, DepthLimitAllowsExactlyMaxDepthLevels) {
  for (const int max_depth : {1, 2, 3, 16, 256}) {
    SCOPED_TRACE(max_depth);
    for (const std::string& text : {nested_arrays(max_depth), nested_objects(max_depth)}) {
      const std::optional<json> ours = reader_parse(text, max_depth);
      ASSERT_TRUE(ours.has_value());
      EXPECT_TRUE(identical(*ours, json::parse(text)));
    }
    for (const std::string& text : {nested_arrays(max_depth + 1), nested_objects(max_depth + 1)}) {
      EXPECT_TRUE(nlohmann_parse(text).has_value());
      EXPECT_FALSE(reader_parse(text, max_depth).has_value());
    }
    // The error points at the first bracket past the limit.
    EXPECT_EQ(error_offset(nested_arrays(max_depth + 1), max_depth),
              static_cast<std::size_t>(max_depth));
    EXPECT_EQ(error_offset(nested_objects(max_depth + 1), max_depth),
              static_cast<std::size_t>(max_depth) * 5);
  }
  EXPECT_TRUE(reader_parse("1", 0).has_value());
  EXPECT_EQ(error_offset(" []", 0), 1u);
  EXPECT_TRUE(reader_parse("\"[[[\"", 0).has_value());
  EXPECT_FALSE(reader_parse("[]", 0).has_value());
  EXPECT_FALSE(reader_parse("{}", 0).has_value());
  // Siblings do not add up; only nesting counts.
  EXPECT_TRUE(reader_parse("[[],[],{\"a\":[]},[[]]]", 3).has_value());
  EXPECT_FALSE(reader_parse("[[],[],{\"a\":[]},[[[]]]]", 3).has_value());
  EXPECT_FALSE(reader_parse(nested_arrays(100000), 256).has_value());
}

// ---------------------------------------------------------------------------------------------
// Error reports.

TEST(JsonReader, ErrorsSayWhereTheyHappened) {
  EXPECT_EQ(error_offset("[1,2,x]"), 5u);
  EXPECT_EQ(error_offset("{\"a\" 1}"), 5u);
  EXPECT_EQ(error_offset("[1,2"), 4u);
  EXPECT_EQ(error_offset("1 2"), 2u);
  EXPECT_EQ(error_offset("\"abc\\q\""), 5u);
  EXPECT_EQ(error_offset("\"ab\xC3(\""), 3u);
  EXPECT_EQ(error_offset("[01]"), 2u);
  try {
    read_json("[true, nope]", kDepth);
    FAIL() << "accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("byte 7"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// Long strings: the SIMD scan, its 16- and 64-byte blocks and the scalar tail.

TEST(JsonReader, LongStringsWithAndWithoutEscapesAndUtf8) {
  std::string ascii;
  for (std::size_t i = 0; ascii.size() < (std::size_t{3} << 20) + 7; ++i) {
    ascii += static_cast<char>('a' + i % 26);
  }
  EXPECT_EQ(read(in_quotes(ascii)), json(ascii));
  EXPECT_TRUE(accepted("[" + in_quotes(ascii) + "," + in_quotes(ascii.substr(1)) + "]"));

  std::string escaped;
  std::string unescaped;
  const char* escapes[] = {"\\n", "\\\"", "\\\\", "\\u00e9", "\\uD83D\\uDE00", "\\/"};
  const std::string meanings[] = {"\n", "\"", "\\", utf8(0xE9), utf8(0x1F600), "/"};
  for (std::size_t i = 0; escaped.size() < (std::size_t{2} << 20); ++i) {
    const std::string run = ascii.substr(i % 40, i % 37);
    escaped += run + escapes[i % 6];
    unescaped += run + meanings[i % 6];
  }
  EXPECT_EQ(read(in_quotes(escaped)), json(unescaped));

  std::string multibyte;
  const std::uint32_t codes[] = {0xE9, 0x416, 0x20AC, 0x4E2D, 0x1F600, 0x10FFFF};
  for (std::size_t i = 0; multibyte.size() < (std::size_t{2} << 20); ++i) {
    multibyte += utf8(codes[i % 6]);
    if (i % 5 == 0) multibyte += ascii.substr(0, i % 29);
  }
  EXPECT_EQ(read(in_quotes(multibyte)), json(multibyte));
  EXPECT_TRUE(accepted(in_quotes(multibyte + escaped + ascii)));
}

// Every special byte or sequence at every position across two 64-byte blocks, so that each one
// sits at each lane of a 16-byte load, straddles load boundaries, and lands in the scalar tail.
TEST(JsonReader, SpecialBytesAtEveryPositionOfTheScan) {
  const std::string ascii(160, 'x');
  const std::string inserts[] = {
      utf8(0xE9), utf8(0x20AC), utf8(0x1F600), "\\n", "\\u00e9", "\\uD83D\\uDE00", "\"",
      std::string(1, '\x1F'), std::string(1, '\0'), bytes({0xC3}), bytes({0xE2, 0x82}),
      bytes({0xF0, 0x9F, 0x98}), bytes({0x80}), bytes({0xED, 0xA0, 0x80}), bytes({0xC0, 0xAF}),
      bytes({0xF4, 0x90, 0x80, 0x80}), "\\", "\\x", "\\uD83D"};
  for (const std::string& insert : inserts) {
    for (std::size_t position = 0; position <= 140; ++position) {
      const std::string body = ascii.substr(0, position) + insert + ascii.substr(position);
      ASSERT_TRUE(same_as_nlohmann(in_quotes(body)));
      // Unterminated: the scan runs into the end of the input at every distance.
      ASSERT_TRUE(same_as_nlohmann("\"" + ascii.substr(0, position) + insert));
      ASSERT_TRUE(same_as_nlohmann("[" + in_quotes(body) + "," + in_quotes(insert) + "]"));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Randomized differential test.

class DocumentGenerator {
 public:
  explicit DocumentGenerator(std::uint64_t seed) : rng_(seed) {}

  std::string document() {
    std::string out;
    whitespace(out);
    value(out, 0);
    whitespace(out);
    return out;
  }

  // One to three random edits: bytes flipped, inserted, removed, or the text cut short.
  std::string mutate(std::string text) {
    static const char interesting[] = "{}[]\":,\\-+.eE0159tfnu \t\n\x01\x1F\x7F";
    const int edits = 1 + pick(3);
    for (int i = 0; i < edits; ++i) {
      const std::size_t at = text.empty() ? 0 : rng_() % (text.size() + 1);
      char byte = static_cast<char>(rng_());
      if (pick(2) == 0) byte = interesting[pick(sizeof interesting - 1)];
      switch (pick(5)) {
        case 0:
          if (at < text.size()) text[at] = byte;
          break;
        case 1: text.insert(at, 1, byte); break;
        case 2:
          if (at < text.size()) text.erase(at, 1);
          break;
        case 3: text.resize(at); break;
        default: {
          const std::size_t from = text.empty() ? 0 : rng_() % text.size();
          text.insert(at, text.substr(from, pick(8)));
        }
      }
    }
    return text;
  }

  std::string number() {
    static const char* const edges[] = {
        "0", "-0", "18446744073709551615", "18446744073709551616", "9223372036854775807",
        "-9223372036854775808", "-9223372036854775809", "1e308", "1e309", "1e-324", "5e-324",
        "1.7976931348623157e308", "-1e-400", "2.2250738585072011e-308"};
    if (pick(8) == 0) return edges[pick(std::size(edges))];
    std::string out;
    if (pick(3) == 0) out += '-';
    if (pick(4) == 0) {
      out += '0';
    } else {
      out += static_cast<char>('1' + pick(9));
      digits(out, pick(4) == 0 ? pick(25) : pick(5));
    }
    if (pick(3) == 0) {
      out += '.';
      digits(out, 1 + pick(pick(5) == 0 ? 30 : 6));
    }
    if (pick(3) == 0) {
      out += "eE"[pick(2)];
      if (pick(2) == 0) out += "+-"[pick(2)];
      digits(out, 1 + pick(pick(6) == 0 ? 4 : 2));
    }
    return out;
  }

 private:
  int pick(std::size_t n) { return static_cast<int>(rng_() % n); }

  void digits(std::string& out, int count) {
    for (int i = 0; i < count; ++i) out += static_cast<char>('0' + pick(10));
  }

  void whitespace(std::string& out) {
    if (pick(3) != 0) return;
    for (int i = pick(4); i >= 0; --i) out += " \t\n\r"[pick(4)];
  }

  void value(std::string& out, int depth) {
    switch (pick(depth < 4 ? 9 : 6)) {
      case 0: out += "null"; break;
      case 1: out += pick(2) ? "true" : "false"; break;
      case 2:
      case 3: out += number(); break;
      case 4:
      case 5: string(out); break;
      case 6:
      case 7: {
        out += '[';
        const int n = pick(5);
        for (int i = 0; i < n; ++i) {
          if (i) out += ',';
          whitespace(out);
          value(out, depth + 1);
          whitespace(out);
        }
        out += ']';
        break;
      }
      default: {
        out += '{';
        const int n = pick(5);
        for (int i = 0; i < n; ++i) {
          if (i) out += ',';
          whitespace(out);
          // A small set of keys makes duplicates common.
          if (pick(2) == 0) {
            out += in_quotes(std::string(1, "abc"[pick(3)]));
          } else {
            string(out);
          }
          whitespace(out);
          out += ':';
          whitespace(out);
          value(out, depth + 1);
        }
        out += '}';
      }
    }
  }

  void string(std::string& out) {
    static const char* const escapes[] = {"\\n", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\r",
                                          "\\t"};
    out += '"';
    const int pieces = pick(pick(6) == 0 ? 40 : 6);
    for (int i = 0; i < pieces; ++i) {
      switch (pick(6)) {
        case 0:
          for (int n = pick(40); n >= 0; --n) out += static_cast<char>('a' + pick(26));
          break;
        case 1: out += escapes[pick(std::size(escapes))]; break;
        case 2: {
          char escape[16];
          std::uint32_t code = static_cast<std::uint32_t>(pick(0x10000));
          if (code >= 0xD800 && code <= 0xDFFF && pick(4) != 0) code = 0x41;
          std::snprintf(escape, sizeof escape, pick(2) ? "\\u%04x" : "\\u%04X", code);
          out += escape;
          break;
        }
        case 3: {
          char escape[16];
          std::snprintf(escape, sizeof escape, "\\u%04X\\u%04x", 0xD800 + pick(0x400),
                        0xDC00 + pick(0x400));
          out += escape;
          break;
        }
        case 4: {
          std::uint32_t code = 0x80 + static_cast<std::uint32_t>(pick(0x10FFFF - 0x80));
          if (code >= 0xD800 && code <= 0xDFFF) code = 0xE9;
          out += utf8(code);
          break;
        }
        default: out += ' ';
      }
    }
    out += '"';
  }

  std::mt19937_64 rng_;
};

TEST(JsonReader, RandomDocumentsAndMutationsMatchNlohmann) {
  int valid_documents = 0;
  int valid_mutations = 0;
  int invalid_mutations = 0;
  for (const std::uint64_t seed : {1u, 2u, 3u}) {
    DocumentGenerator generator(seed);
    for (int i = 0; i < 1500; ++i) {
      // The generator's edge cases (lone surrogates, 1e309) make some documents invalid.
      const std::string document = generator.document();
      ASSERT_TRUE(same_as_nlohmann(document));
      valid_documents += nlohmann_parse(document).has_value();
      for (int j = 0; j < 4; ++j) {
        const std::string mutated = generator.mutate(document);
        ASSERT_TRUE(same_as_nlohmann(mutated));
        ++(nlohmann_parse(mutated) ? valid_mutations : invalid_mutations);
      }
    }
  }
  // Both outcomes must be well represented, or the run tests little. (Seen: 4419 documents
  // valid; 3056 mutations valid, 14944 invalid.)
  EXPECT_GT(valid_documents, 3000);
  EXPECT_GT(valid_mutations, 1500);
  EXPECT_GT(invalid_mutations, 9000);
}

TEST(JsonReader, RandomNumbersMatchNlohmann) {
  DocumentGenerator generator(4);
  for (int i = 0; i < 30000; ++i) {
    const std::string number = generator.number();
    ASSERT_TRUE(same_as_nlohmann(number));
    ASSERT_TRUE(same_as_nlohmann("[" + number + "]"));
    ASSERT_TRUE(same_as_nlohmann(generator.mutate(number)));
  }
}

TEST(JsonReaderMembers, HandsOverEachMemberInOrderWithRepeatsAgain) {
  std::vector<std::pair<std::string, json>> members;
  const bool object = read_json_members(
      R"( {"b":[1,{"x":null}],"a":"s","b":2} )", 8,
      [&](const std::string& key, json&& value) { members.emplace_back(key, std::move(value)); });
  EXPECT_TRUE(object);
  ASSERT_EQ(members.size(), 3u);
  EXPECT_EQ(members[0].first, "b");
  EXPECT_EQ(members[0].second, json::parse(R"([1,{"x":null}])"));
  EXPECT_EQ(members[1].second, json("s"));
  EXPECT_EQ(members[2].first, "b");
  EXPECT_EQ(members[2].second, json(2));
}

TEST(JsonReaderMembers, ReportsANonObjectWithoutReadingIt) {
  int calls = 0;
  auto count = [&](const std::string&, json&&) { ++calls; };
  EXPECT_FALSE(read_json_members("[1,2]", 8, count));
  EXPECT_FALSE(read_json_members(" 42", 8, count));
  EXPECT_FALSE(read_json_members("", 8, count));
  EXPECT_TRUE(read_json_members("{}", 8, count));
  EXPECT_EQ(calls, 0);
}

TEST(JsonReaderMembers, RefusesWhatReadJsonRefuses) {
  auto ignore = [](const std::string&, json&&) {};
  for (const std::string text : {R"({"a":1} x)", R"({"a":1)", R"({"a" 1})", R"({"a":1,})",
                                 R"({"a":[[1]]})"}) {
    SCOPED_TRACE(text);
    EXPECT_THROW(read_json_members(text, 2, ignore), JsonSyntaxError);
    EXPECT_THROW(read_json(text, 2), JsonSyntaxError);
  }
  EXPECT_TRUE(read_json_members(R"({"a":[1]})", 2, ignore));
}

// What reading a text's members yields: each member, or where reading failed.
struct MembersRead {
  std::vector<std::pair<std::string, json>> members;
  bool object = false;
  std::optional<std::size_t> error_at;
  std::string error;  // what() of the error, if any
};

MembersRead members_of(std::string_view text) {
  MembersRead read;
  try {
    read.object = read_json_members(text, 16, [&](const std::string& key, json&& value) {
      read.members.emplace_back(key, std::move(value));
    });
  } catch (const JsonSyntaxError& e) {
    read.error_at = e.offset();
    read.error = e.what();
  }
  return read;
}

MembersRead members_taking(std::string text, std::size_t adopt_min) {
  MembersRead read;
  try {
    read.object = read_json_members_taking(
        text, 16,
        [&](const std::string& key, json&& value) { read.members.emplace_back(key, std::move(value)); },
        adopt_min);
  } catch (const JsonSyntaxError& e) {
    read.error_at = e.offset();
    read.error = e.what();
  }
  return read;
}

void expect_same(const MembersRead& got, const MembersRead& want) {
  EXPECT_EQ(got.object, want.object);
  EXPECT_EQ(got.error_at, want.error_at);
  EXPECT_EQ(got.error, want.error);
  ASSERT_EQ(got.members.size(), want.members.size());
  for (std::size_t i = 0; i < got.members.size(); ++i) {
    EXPECT_EQ(got.members[i].first, want.members[i].first);
    EXPECT_TRUE(identical(got.members[i].second, want.members[i].second));
  }
}

// Calls `check` on 2,000 copies of `base`, each with one byte (picked by a generator seeded
// with `seed`) replaced by one that matters to JSON, most of them breaking the text somewhere.
void for_each_byte_change(const std::string& base, unsigned seed,
                          const std::function<void(const std::string&)>& check) {
  std::mt19937 random(seed);
  const std::string bytes = "\"\\{}[],: x0\x01\xc3";
  for (int i = 0; i < 2000; ++i) {
    std::string text = base;
    text[random() % text.size()] = bytes[random() % bytes.size()];
    SCOPED_TRACE(text);
    check(text);
  }
}

void expect_same_reading(const std::string& text, std::size_t adopt_min) {
  expect_same(members_taking(text, adopt_min), members_of(text));
}

// A string that is most of an owned text takes over its buffer, in place; reading goes on
// after it as before.
TEST(JsonReaderMembers, ALargeStringTakesOverTheOwnedTextsBuffer) {
  const std::string big(6000, 'q');
  std::string text = R"({"params":[")" + big + R"("],"id":7,"method":"m"})";
  const char* storage = text.data();
  std::vector<std::pair<std::string, json>> members;
  ASSERT_TRUE(read_json_members_taking(
      text, 8, [&](const std::string& key, json&& value) { members.emplace_back(key, std::move(value)); },
      1000));
  ASSERT_EQ(members.size(), 3u);
  const std::string& adopted = members[0].second.at(0).get_ref<const std::string&>();
  EXPECT_EQ(adopted, big);
  EXPECT_EQ(adopted.data(), storage);
  EXPECT_EQ(members[1].second, json(7));
  EXPECT_EQ(members[2].second, json("m"));
  // Smaller than adopt_min, under half the text, or with escapes: copied as usual.
  std::string small_text = R"({"a":")" + big + R"("})";
  const char* small_storage = small_text.data();
  members.clear();
  read_json_members_taking(
      small_text, 8, [&](const std::string& key, json&& value) { members.emplace_back(key, std::move(value)); },
      big.size() + 1);
  ASSERT_EQ(members.size(), 1u);
  EXPECT_NE(members[0].second.get_ref<const std::string&>().data(), small_storage);
}

// Taking the text changes nothing a reader can see: the same members, the same errors at the
// same offsets, whether the large string comes first, last, as a key, with escapes, or is
// followed by broken text.
TEST(JsonReaderMembers, TakingTheTextReadsExactlyWhatReadingItDoes) {
  const std::string big(300, 'z');
  const std::vector<std::string> texts = {
      R"({"a":")" + big + R"("})",
      R"({"a":")" + big + R"(","b":[1,2.5,"x"],"c":{"d":null}})",
      R"( {"x":1, "a" : [")" + big + R"("] }  )",
      R"({")" + big + R"(":1})",
      R"({"a":")" + big + R"(\n"})",
      R"({"a":")" + big + R"(", "b":")" + big + R"("})",
      R"({"a":")" + big + R"("} trailing)",
      R"({"a":")" + big + R"(",})",
      R"({"a":")" + big + R"("})" + std::string(1, '\0') + "garbage",
      R"({"a":")" + big + R"(","b":)",
      R"({"a":")" + big + R"(")",
      R"({"a":")" + big,
      R"([")" + big + R"("])",
  };
  for (const std::string& text : texts) {
    SCOPED_TRACE(text.substr(0, 40));
    for (std::size_t adopt_min : {std::size_t{1}, big.size(), big.size() + 1}) {
      expect_same_reading(text, adopt_min);
    }
  }
  // And every single-byte change of a template, most of them breaking it somewhere.
  const std::string base = R"({"jsonrpc":"2.0","params":[")" + std::string(200, 'p') +
                           R"(",{"k":[true]}],"id":"7"})";
  for_each_byte_change(base, 11, [](const std::string& text) { expect_same_reading(text, 50); });
}

// Every member into a list, through the MemberReceiver interface.
struct ListReceiver final : MemberReceiver {
  std::string* text_slot(std::string_view) override { return nullptr; }
  void take(std::string_view key, json&& value) override {
    read->members.emplace_back(std::string(key), std::move(value));
  }
  MembersRead* read;
};

// The text split where open_string_at_end says its first `prefix` bytes end inside a string,
// read in two pieces, with the rest's clean prefix (up to `check_limit` bytes) as checked.
std::optional<MembersRead> members_in_two_pieces(const std::string& text, std::size_t prefix,
                                                 std::size_t check_limit, std::size_t adopt_min) {
  const auto open = open_string_at_end(std::string_view(text).substr(0, prefix), 16);
  if (!open) return std::nullopt;
  EXPECT_LE(open->content + open->clean, prefix);
  const std::string head = text.substr(0, open->content);
  std::string rest = text.substr(open->content);
  EXPECT_EQ(clean_prefix(rest, 0, open->clean), open->clean);  // what the probe saw is clean
  // As much as check_limit says (ending where a sequence does), at least what the probe saw.
  const std::size_t want = std::min(check_limit, rest.size());
  const std::size_t checked = std::max(open->clean, clean_prefix(rest, 0, want));
  MembersRead read;
  ListReceiver receiver;
  receiver.read = &read;
  try {
    read.object = read_json_members_taking(head, rest, checked, 16, receiver, adopt_min);
  } catch (const JsonSyntaxError& e) {
    read.error_at = e.offset();
    read.error = e.what();
  }
  return read;
}

// Where a string opened in the text runs into its end, and how much of it is clean.
std::optional<std::pair<std::size_t, std::size_t>> open_at(std::string_view text) {
  const auto open = open_string_at_end(text, 16);
  if (!open) return std::nullopt;
  return std::pair{open->content, open->clean};
}

TEST(JsonReaderTwoPieces, FindsTheStringThatRunsIntoTheEnd) {
  using At = std::pair<std::size_t, std::size_t>;
  EXPECT_EQ(open_at(R"({"a":"xyz)"), At(6, 3));
  EXPECT_EQ(open_at(R"({"a":")"), At(6, 0));
  EXPECT_EQ(open_at(R"({"a":[1,"x\"y)"), At(9, 0));  // an escape: nothing counted clean
  EXPECT_EQ(open_at(R"({"jsonrpc":"2.0","ab)"), At(18, 2));  // a key
  EXPECT_EQ(open_at("{\"a\":\"x\xc3\xa9y\xe2\x82"), At(6, 4));  // a UTF-8 sequence cut
  EXPECT_EQ(open_at(R"({"a":"xyz"})"), std::nullopt);  // closed
  EXPECT_EQ(open_at(R"({"a":"xyz",)"), std::nullopt);  // ends between members
  EXPECT_EQ(open_at(R"({"a":1)"), std::nullopt);
  EXPECT_EQ(open_at(R"({"a" "b)"), std::nullopt);  // refused before the end
  EXPECT_EQ(open_at(R"(["a)"), std::nullopt);  // not an object
  EXPECT_EQ(open_at("{\"a\":\"x\x01y"), std::nullopt);  // refused inside
  EXPECT_EQ(open_at("{\"a\":\"x\xc3(yyy"), std::nullopt);  // ill-formed before the end
}

// Two pieces read exactly as the whole text: the same members, the same errors at the same
// offsets, whatever the string holds after its checked bytes and whether it is taken over.
TEST(JsonReaderTwoPieces, ReadExactlyWhatTheWholeTextReads) {
  const std::string big(300, 'z');
  const std::vector<std::string> texts = {
      R"({"a":")" + big + R"("})",
      R"({"jsonrpc":"2.0","params":[")" + big + R"("],"id":7,"method":"m"})",
      R"({"a":")" + big + R"(","b":[1,2.5,"x"],"c":{"d":null}})",
      R"( {"x":1, "a" : [")" + big + R"("] }  )",
      R"({")" + big + R"(":1})",
      R"({"a":")" + big + R"(\n"})",
      R"({"a":")" + big + "\n\"}",
      R"({"a":")" + big + "\xc3\xa9\xe2\x82\xac" + big + R"("})",
      R"({"a":")" + big + "\xc3(" + R"("})",
      R"({"a":")" + big + R"(", "b":")" + big + R"("})",
      R"({"a":")" + big + R"("} trailing)",
      R"({"a":")" + big + R"(",})",
      R"({"a":")" + big + R"(","b":)",
      R"({"a":")" + big + R"(")",
      R"({"a":")" + big,
      R"({"a":")" + big + "\x01" + R"("})",
  };
  int splits = 0;
  for (const std::string& text : texts) {
    SCOPED_TRACE(text.substr(0, 40));
    const MembersRead whole = members_of(text);
    for (std::size_t prefix = 0; prefix <= text.size(); prefix += 7) {
      for (std::size_t check_limit : {std::size_t{0}, std::size_t{64}, text.size()}) {
        for (std::size_t adopt_min : {std::size_t{1}, big.size() + 1}) {
          const auto two = members_in_two_pieces(text, prefix, check_limit, adopt_min);
          if (!two) continue;
          ++splits;
          SCOPED_TRACE(prefix);
          expect_same(*two, whole);
        }
      }
    }
  }
  EXPECT_GT(splits, 1000);
  // And every single-byte change of a request, split where its params string opens.
  const std::string base = R"({"jsonrpc":"2.0","method":"echo","params":[")" +
                           std::string(200, 'p') + R"(",{"k":[true]}],"id":"7"})";
  for_each_byte_change(base, 12, [](const std::string& text) {
    const auto two = members_in_two_pieces(text, 100, text.size(), 50);
    if (two) expect_same(*two, members_of(text));
  });
}

// The string at the front of the second piece becomes the value where it lies.
TEST(JsonReaderTwoPieces, ALongStringTakesTheSecondPieceWithoutMoving) {
  const std::string big(6000, 'q');
  const std::string head = R"({"jsonrpc":"2.0","id":3,"result":")";
  std::string rest = big + R"("})";
  const char* storage = rest.data();
  MembersRead read;
  ListReceiver receiver;
  receiver.read = &read;
  ASSERT_TRUE(read_json_members_taking(head, rest, 5000, 16, receiver, 1000));
  ASSERT_EQ(read.members.size(), 3u);
  EXPECT_EQ(read.members[2].first, "result");
  const auto& result = read.members[2].second.get_ref<const std::string&>();
  EXPECT_EQ(result, big);
  EXPECT_EQ(result.data(), storage);
}

// read_json_value_into reads what read_json_value reads; an array into an array target keeps
// the target's storage, with only the new elements in it.
TEST(JsonReaderInto, AnArrayIntoAnArrayReusesItsStorage) {
  json target = json::array({"old", 1, 2, 3});
  const auto* storage = target.get_ref<const json::array_t&>().data();
  const std::string text = R"(x["a",[1],{"k":null}] y)";
  std::size_t pos = 1;
  read_json_value_into(text, pos, 10, target);
  EXPECT_EQ(pos, text.find(']', 12) + 1);
  std::size_t expected_pos = 1;
  EXPECT_TRUE(identical(target, read_json_value(text, expected_pos, 10)));
  EXPECT_EQ(pos, expected_pos);
  EXPECT_EQ(target.get_ref<const json::array_t&>().data(), storage);

  // Anything else replaces the target, as an assignment would.
  for (const std::string other : {"[]", "{\"a\":[1]}", "\"s\"", "12", "null"}) {
    for (json t : {json::array({1}), json(7), json::object()}) {
      std::size_t at = 0;
      read_json_value_into(other, at, 10, t);
      std::size_t expected_at = 0;
      EXPECT_TRUE(identical(t, read_json_value(other, expected_at, 10))) << other;
      EXPECT_EQ(at, other.size()) << other;
    }
  }
  json t = json::array({1});
  std::size_t at = 0;
  EXPECT_THROW(read_json_value_into("[1,", at, 10, t), JsonSyntaxError);
  at = 0;
  EXPECT_THROW(read_json_value_into("[[[1]]]", at, 2, t), JsonSyntaxError);
}

// The first string read takes the spare string over, storage and all; the value read is the
// same as without it, and a spare that is not a string is left alone.
TEST(JsonReaderInto, TheFirstStringTakesTheSpareStringOver) {
  const std::string text = R"(["first string of this text",7,"second"])";
  json spare = std::string(64, 'z');
  const char* storage = spare.get_ref<const std::string&>().data();
  json target = json::array();
  std::size_t pos = 0;
  read_json_value_into(text, pos, 10, target, &spare);
  std::size_t expected_pos = 0;
  EXPECT_TRUE(identical(target, read_json_value(text, expected_pos, 10)));
  EXPECT_EQ(pos, expected_pos);
  EXPECT_EQ(target[0].get_ref<const std::string&>().data(), storage);
  EXPECT_TRUE(spare.is_null());

  // Escapes and a value that is a string itself, read into a non-array target.
  for (const std::string other : {R"("a\"b\u00e9")", R"({"k":"v"})", "[1,[\"deep\"]]"}) {
    json s = "leftover text that must not show";
    json t = json::array({1});
    std::size_t at = 0;
    read_json_value_into(other, at, 10, t, &s);
    std::size_t expected_at = 0;
    EXPECT_TRUE(identical(t, read_json_value(other, expected_at, 10))) << other;
    EXPECT_TRUE(s.is_null()) << other;
  }
  json number = 5;
  json t = json::array();
  std::size_t at = 0;
  read_json_value_into(R"(["x"])", at, 10, t, &number);
  EXPECT_EQ(number, 5);
  EXPECT_EQ(t, json::array({"x"}));
}

// release() empties any value, and a deeply nested one without recursing level by level
// (nlohmann's own destructor flattens the levels below each element).
TEST(Release, EmptiesScalarsContainersAndDeepNesting) {
  for (json value : {json(5), json("text"), json::array({1, "a", json::array({2})}),
                     json::object({{"k", json::object({{"x", nullptr}})}})}) {
    release(value);
    EXPECT_TRUE(value.is_null());
  }
  json deep = json::array();
  json* level = &deep;
  for (int i = 0; i < 200000; ++i) {
    level->push_back(json::array());
    level = &level->back();
  }
  json object = json::object({{"deep", std::move(deep)}, {"n", 1}});
  release(object);
  EXPECT_TRUE(object.is_null());
}

// The block scan both the reader and the writer use, in each of its forms: it must stop
// before the first byte that ends a run and at most 63 bytes before it (or, with none, within
// 64 bytes of the end), wherever the text starts, and never read past the end. (Whichever
// form this CPU runs, the others it can run are checked here too.)
using SkipForm = const char* (*)(const char*, const char*);
std::vector<SkipForm> skip_forms() {
  std::vector<SkipForm> forms{skip_clean_blocks_sse2, skip_clean_blocks};
  if (avx2_available()) forms.push_back(skip_clean_blocks_avx2);
  if (avx512_available()) forms.push_back(skip_clean_blocks_avx512);
  return forms;
}

// Whether `stop`, a form's answer for a text from `begin` on, is one the contract allows when
// the first byte that ends a run is at `first_end` (the text's end if none).
bool allowed_stop(const char* begin, const char* first_end, const char* stop) {
  return begin <= stop && stop <= first_end && first_end - stop < 64;
}

TEST(BlockScan, EveryFormStopsWithin64BytesBeforeTheFirstRunEnd) {
#if !defined(__x86_64__) && !defined(__i386__)
  GTEST_SKIP() << "no vector scan on this architecture";
#endif
  const std::string enders = std::string("\"\\\x00\x01\x1f\x80\xff", 7);
  for (auto form : skip_forms()) {
    for (std::size_t shift : {0u, 1u, 24u, 63u}) {  // where the text starts in a cache line
      for (std::size_t length : {0u, 63u, 64u, 65u, 127u, 128u, 200u, 5000u}) {
        // Exactly `length` bytes on the heap after `shift` others, so reading past the end
        // trips AddressSanitizer.
        std::vector<char> clean(shift + length, 'a');
        const char* begin = clean.data() + shift;
        const char* end = begin + length;
        ASSERT_TRUE(allowed_stop(begin, end, form(begin, end))) << length << " " << shift;
        for (std::size_t at = 0; at < length; at += at < 300 ? 1 : 97) {
          for (const char ender : enders) {
            std::vector<char> text(shift + length, ' ');
            text[shift + at] = ender;
            const char* b = text.data() + shift;
            const char* stop = form(b, b + length);
            ASSERT_TRUE(allowed_stop(b, b + at, stop))
                << "length " << length << " shift " << shift << " ender at " << at << " stop at "
                << stop - b;
          }
        }
      }
    }
  }
}

// Every byte value, in every form: a block stops the scan exactly when its byte ends a run
// (kEndsRun), and for no other byte. The text is long enough for the scan's several-block
// steps (the first few hundred bytes) and its block-at-a-time end.
TEST(BlockScan, EveryFormStopsAtExactlyTheBytesThatEndARun) {
#if !defined(__x86_64__) && !defined(__i386__)
  GTEST_SKIP() << "no vector scan on this architecture";
#endif
  constexpr std::size_t kLength = 78 * 64;
  for (auto form : skip_forms()) {
    for (int byte = 0; byte < 256; ++byte) {
      for (const std::size_t at : {std::size_t{5}, std::size_t{130}, std::size_t{255},
                                   std::size_t{300}, std::size_t{1000}, kLength - 1}) {
        // Starting 24 bytes past a cache line's start: the scan's first block and its aligned
        // ones differ.
        std::vector<char> text(kLength + 64, 'a');
        const auto address = reinterpret_cast<std::uintptr_t>(text.data());
        char* const b = text.data() + (24 + 64 - address % 64) % 64;
        b[at] = static_cast<char>(byte);
        const char* first_end = kEndsRun[byte] ? b + at : b + kLength;
        ASSERT_TRUE(allowed_stop(b, first_end, form(b, b + kLength)))
            << "byte " << byte << " at " << at;
      }
    }
  }
}

// The move that goes with the scan: it copies exactly the blocks the scan skips, to a place
// before them in the same buffer (as a reader moves a string to the front of its text), and
// leaves the block with the run end and everything after it as it was.
TEST(BlockScan, EveryFormMovesTheCleanBlocksAndNothingElse) {
#if !defined(__x86_64__) && !defined(__i386__)
  GTEST_SKIP() << "no vector scan on this architecture";
#endif
  std::vector<std::size_t (*)(char*, const char*, const char*)> forms{move_clean_blocks_sse2,
                                                                        move_clean_blocks};
  if (avx2_available()) forms.push_back(move_clean_blocks_avx2);
  for (auto form : forms) {
    for (std::size_t shift : {1u, 7u, 64u}) {
      for (std::size_t length : {0u, 63u, 64u, 65u, 300u, 5000u}) {
        for (std::size_t at : {std::size_t{0}, std::size_t{63}, std::size_t{64}, std::size_t{130},
                               length}) {
          if (at > length) continue;
          // `shift` bytes of something else, then `length` bytes with a quote at `at`; exactly
          // that much on the heap, so reading past the end trips AddressSanitizer.
          std::vector<char> buffer(shift + length);
          for (std::size_t i = 0; i < buffer.size(); ++i) buffer[i] = static_cast<char>('a' + i % 26);
          if (at < length) buffer[shift + at] = '"';
          const std::vector<char> before = buffer;
          const char* from = buffer.data() + shift;
          const std::size_t moved = form(buffer.data(), from, from + length);
          ASSERT_EQ(moved, std::min(at, length) / 64 * 64) << shift << " " << length << " " << at;
          for (std::size_t i = 0; i < moved; ++i) ASSERT_EQ(buffer[i], before[shift + i]) << i;
          for (std::size_t i = moved + shift; i < buffer.size(); ++i) {
            ASSERT_EQ(buffer[i], before[i]) << i;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace procslink::detail
