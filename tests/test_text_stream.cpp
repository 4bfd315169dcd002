// TextStream: a sender's text handed out in fragment-sized slices, with long strings left
// unchecked by the writer and checked slice by slice. Whatever the strings hold (escapes,
// ill-formed UTF-8, sequences cut by a slice's end) and wherever it lies (the first byte, a
// slice's last, the last byte), the slices put together are append_json's text exactly.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../src/json_writer.hpp"
#include "../src/jsonrpc_text.hpp"
#include "../src/text_stream.hpp"

namespace procslink {
namespace {

using detail::kUncheckedMin;

constexpr std::size_t kSlice = 131032;  // the default fragment body

struct Streamed {
  std::string text;
  std::vector<std::size_t> slice_sizes;
  std::size_t unchecked_runs = 0;
  bool counts_add_up = true;  // taken() + left() never undercounts what was handed out
};

// A request with params `params`, written as a peer writes it, then taken in slices.
Streamed stream_request(const json& params, std::size_t slice = kSlice) {
  std::string text = "headroom";
  std::vector<detail::BorrowedRun> borrowed;
  const std::int64_t id = 7;
  const json id_value = id;
  detail::append_request(text, &borrowed, "echo", &params, &id_value);
  Streamed out;
  for (const auto& run : borrowed) out.unchecked_runs += !run.checked;
  detail::TextStream stream(text, borrowed, 8);
  std::vector<std::string_view> views;
  while (!stream.done()) {
    views.clear();
    stream.take(slice, views);
    std::size_t size = 0;
    for (const std::string_view view : views) {
      out.text.append(view);
      size += view.size();
    }
    out.slice_sizes.push_back(size);
    if (stream.taken() != out.text.size()) out.counts_add_up = false;
  }
  return out;
}

std::string expected_request(const json& params) {
  return R"({"jsonrpc":"2.0","method":"echo","params":)" +
         params.dump(-1, ' ', false, json::error_handler_t::replace) + R"(,"id":7})";
}

std::string long_text(std::size_t size) {
  std::string text(size, '\0');
  for (std::size_t i = 0; i < size; ++i) text[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return text;
}

void expect_same(const json& params) {
  const Streamed got = stream_request(params);
  const std::string expected = expected_request(params);
  ASSERT_EQ(got.text.size(), expected.size());
  EXPECT_TRUE(got.text == expected) << "first difference at "
                                    << std::mismatch(got.text.begin(), got.text.end(),
                                                     expected.begin()).first - got.text.begin();
  EXPECT_TRUE(got.counts_add_up);
  for (std::size_t i = 0; i + 1 < got.slice_sizes.size(); ++i) {
    EXPECT_EQ(got.slice_sizes[i], kSlice) << "slice " << i;
  }
}

TEST(TextStream, ALongCleanStringIsLeftUncheckedAndComesOutAsWritten) {
  const json params = json::array({long_text(kUncheckedMin * 4)});
  EXPECT_EQ(stream_request(params).unchecked_runs, 1u);
  expect_same(params);
}

// lead(): what comes before the first unchecked string, where a sender may end its first
// fragment (message_sender.cpp); the whole text when every string was checked.
TEST(TextStream, LeadIsTheTextBeforeTheFirstUncheckedString) {
  const auto lead_of = [](const json& params) {
    std::string text = "headroom";
    std::vector<detail::BorrowedRun> borrowed;
    const json id = 7;
    detail::append_request(text, &borrowed, "echo", &params, &id);
    const detail::TextStream stream(text, borrowed, 8);
    return std::pair(stream.lead(), stream.left());
  };
  const std::string open = R"({"jsonrpc":"2.0","method":"echo","params":[)";
  const std::string text = long_text(kUncheckedMin);
  EXPECT_EQ(lead_of(json::array({text})).first, open.size() + 1);
  EXPECT_EQ(lead_of(json::array({"short", 1, text, text})).first,
            open.size() + std::string(R"("short",1,")").size());
  const auto [lead, left] = lead_of(json::array({"short", long_text(kUncheckedMin - 1)}));
  EXPECT_EQ(lead, left);
}

TEST(TextStream, AShorterStringIsCheckedByTheWriter) {
  const json params = json::array({long_text(kUncheckedMin - 1)});
  EXPECT_EQ(stream_request(params).unchecked_runs, 0u);
  expect_same(params);
}

TEST(TextStream, EscapesAnywhereInTheStringAreWrittenAsAppendJsonWrites) {
  const std::size_t size = kUncheckedMin * 3;
  // Where the request's text puts a string byte at a slice boundary depends on the envelope
  // before it: try around each boundary, the first and last bytes, and the middle.
  std::vector<std::size_t> where = {0, 1, size / 2, size - 2, size - 1};
  for (std::size_t boundary = kSlice; boundary < size; boundary += kSlice) {
    for (std::size_t off = 0; off < 64; off += 7) where.push_back(boundary - 32 + off);
  }
  for (const char special : {'"', '\\', '\n', '\0', '\x1f'}) {
    for (const std::size_t at : where) {
      std::string text = long_text(size);
      text[at] = special;
      SCOPED_TRACE(testing::Message() << "byte " << int(special) << " at " << at);
      expect_same(json::array({text}));
    }
  }
}

TEST(TextStream, Utf8CutBySlicesIsKeptAndIllFormedUtf8IsReplaced) {
  const std::size_t size = kUncheckedMin * 2;
  const std::string sequences[] = {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",  // well-formed
                                   "\xC3", "\xE2\x82", "\xF0\x9F\x98", "\xFF", "\xED\xA0\x80"};
  for (const std::string& sequence : sequences) {
    for (std::size_t at = kSlice - 80; at < kSlice - 40; ++at) {
      std::string text = long_text(size);
      text.replace(at, sequence.size(), sequence);
      SCOPED_TRACE(testing::Message() << "sequence of " << sequence.size() << " at " << at);
      expect_same(json::array({text}));
    }
    std::string tail = long_text(size);
    tail.replace(size - sequence.size(), sequence.size(), sequence);  // cut by the string's end
    expect_same(json::array({tail}));
  }
}

TEST(TextStream, SeveralLongStringsEachWithEscapesComeOutInOrder) {
  std::string first = long_text(kUncheckedMin + 5000);
  std::string second = long_text(kUncheckedMin * 2);
  first[kSlice + 3] = '"';
  second[100] = '\\';
  second[kSlice * 2 + 17] = '\x01';
  second.replace(second.size() - 3, 2, "\xC3\x28");  // an ill-formed pair
  const json params = json::array({first, 5, json::object({{"k", second}}), "short"});
  EXPECT_EQ(stream_request(params).unchecked_runs, 2u);
  expect_same(params);
  // Any slice size: the rewrite of a string's rest borrows its own clean runs again.
  for (const std::size_t slice : {std::size_t{1}, std::size_t{4093}, std::size_t{1} << 20}) {
    SCOPED_TRACE(slice);
    EXPECT_EQ(stream_request(params, slice).text, expected_request(params));
  }
}

TEST(TextStream, AStringMadeOfEscapesGrowsTheTextPastWhatWasAnnounced) {
  const std::string quotes(kUncheckedMin, '"');
  const json params = json::array({quotes});
  const Streamed got = stream_request(params);
  EXPECT_EQ(got.text, expected_request(params));
  EXPECT_GT(got.text.size(), 2 * kUncheckedMin);
}

}  // namespace
}  // namespace procslink
