// json_text_bench.cpp - procslink's JSON reader against simdjson, building the same values.
//
// procslink_json_bench times, per text, what the peer's reader produces where the peer uses it
// (src/peer.cpp, src/jsonrpc.cpp) and what simdjson (On-Demand and DOM) plus a conversion into
// the same nlohmann::json values costs; nlohmann::json::parse is a row for scale. Before timing
// it checks that every reader built identical values (same types, same numbers), and exits 1
// if not. The texts:
//   - the pinned echo's request and reply, as a peer writes them for call("echo", payload):
//     the server reads the request (method as text, params and id as values), the client only
//     the reply's result, having matched its id;
//   - the large echo's request and reply, one string of 1 MiB or 64 MiB in params or result,
//     read from the buffer they were reassembled in (which the peer's reader may take over);
//   - the JSON texts of the fuzzers' corpora (fuzz/seeds, fuzz/regressions), read whole.
// simdjson needs SIMDJSON_PADDING readable bytes after a text: the buffers here have them, as a
// receive buffer with that much slack would, so no reader pays a copy for it.
//
//   procslink_json_bench [--quick] [--runs=N] [--fuzz-dir=DIR]
#include <simdjson.h>
#include <sys/utsname.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "../src/json_reader.hpp"
#include "../src/json_writer.hpp"
#include "../src/jsonrpc_text.hpp"
#include "../tests/support/json_identical.hpp"
#include "procslink/jsonrpc.hpp"
#include "simdjson_to_nlohmann.hpp"

namespace procslink::bench {
namespace {

namespace sj = simdjson;
using Clock = std::chrono::steady_clock;
using test::identical;
using namespace simdjson_convert;

constexpr std::int64_t kEchoId = 12345;  // a peer's ids count up from 1
const std::string kEchoPayload = "procslink benchmark payload 0123";  // bench/procslink_side.hpp

struct Config {
  bool quick = false;
  int runs = 21;
  std::string fuzz_dir = PROCSLINK_JSON_BENCH_FUZZ_DIR;
};

[[noreturn]] void mismatch(const std::string& what) {
  std::fprintf(stderr, "procslink_json_bench: %s\n", what.c_str());
  std::exit(1);
}

// A text in a buffer with simdjson's padding after it (a std::string whose capacity has room).
using Text = std::string;

Text padded_text(std::string_view bytes) {
  Text text;
  text.reserve(bytes.size() + sj::SIMDJSON_PADDING);
  text.assign(bytes);
  return text;
}

sj::padded_string_view padded(const Text& text) {
  return sj::padded_string_view(text.data(), text.size(), text.capacity());
}

// ---- the texts a peer sends ----

Text echo_request(const json& argument) {
  std::string text;
  const detail::ParamArg arg{&argument, {}};
  detail::append_positional_request(text, nullptr, "echo", std::span(&arg, 1), &kEchoId);
  return padded_text(text);
}

Text echo_reply(const json& result) {
  std::string text;
  detail::append_response(text, nullptr, JsonRpcResponse::success(kEchoId, result));
  return padded_text(text);
}

// ---- the envelope as simdjson would read it (any member order, unknown members skipped) ----

JsonRpcRequest request_ondemand(sj::ondemand::parser& parser, const Text& text) {
  sj::ondemand::document document = parser.iterate(padded(text));
  JsonRpcRequest request;
  bool version = false;
  for (sj::ondemand::field field : document.get_object()) {
    const std::string_view key = field.unescaped_key();
    sj::ondemand::value value = field.value();
    if (key == "jsonrpc") {
      version = std::string_view(value.get_string()) == "2.0";
    } else if (key == "method") {
      request.method = std::string_view(value.get_string());
    } else if (key == "params") {
      request.params = from_ondemand(value);
    } else if (key == "id") {
      request.id = from_ondemand(value);
    }
  }
  if (!at_end(document) || !version) throw sj::simdjson_error(sj::TAPE_ERROR);
  return request;
}

JsonRpcRequest request_dom(sj::dom::parser& parser, const Text& text) {
  const sj::dom::element root = parser.parse(text.data(), text.size(), false);
  JsonRpcRequest request;
  bool version = false;
  for (const auto field : sj::dom::object(root)) {
    if (field.key == "jsonrpc") {
      version = std::string_view(field.value.get_string()) == "2.0";
    } else if (field.key == "method") {
      request.method = std::string_view(field.value.get_string());
    } else if (field.key == "params") {
      request.params = from_dom(field.value);
    } else if (field.key == "id") {
      request.id = from_dom(field.value);
    }
  }
  if (!version) throw sj::simdjson_error(sj::TAPE_ERROR);
  return request;
}

// The reply's result, once its version and id are checked.
json result_ondemand(sj::ondemand::parser& parser, const Text& text, std::int64_t id) {
  sj::ondemand::document document = parser.iterate(padded(text));
  json result;
  bool version = false, same_id = false;
  for (sj::ondemand::field field : document.get_object()) {
    const std::string_view key = field.unescaped_key();
    sj::ondemand::value value = field.value();
    if (key == "jsonrpc") {
      version = std::string_view(value.get_string()) == "2.0";
    } else if (key == "id") {
      same_id = std::int64_t(value.get_int64()) == id;
    } else if (key == "result") {
      result = from_ondemand(value);
    }
  }
  if (!at_end(document) || !version || !same_id) throw sj::simdjson_error(sj::TAPE_ERROR);
  return result;
}

json result_dom(sj::dom::parser& parser, const Text& text, std::int64_t id) {
  const sj::dom::element root = parser.parse(text.data(), text.size(), false);
  json result;
  bool version = false, same_id = false;
  for (const auto field : sj::dom::object(root)) {
    if (field.key == "jsonrpc") {
      version = std::string_view(field.value.get_string()) == "2.0";
    } else if (field.key == "id") {
      same_id = std::int64_t(field.value.get_int64()) == id;
    } else if (field.key == "result") {
      result = from_dom(field.value);
    }
  }
  if (!version || !same_id) throw sj::simdjson_error(sj::TAPE_ERROR);
  return result;
}

// ---- procslink's reader, as the peer calls it ----

JsonRpcRequest request_ours(const Text& text) {
  JsonRpcRequest request;
  if (!detail::read_request_layout(std::string_view(text), request)) {
    mismatch("echo request not in layout");
  }
  return request;
}

// The same with a serving thread's spare params array and string, recycled as the peer does
// after each request (keep_params_array in src/peer.cpp).
struct Spares {
  json params = json::array();
  json string = json::value_t::string;
  JsonRpcRequest read(const Text& text) {
    JsonRpcRequest request;
    if (!detail::read_request_layout(std::string_view(text), request, &params, &string)) {
      mismatch("echo request not in layout");
    }
    return request;
  }
  void recycle(JsonRpcRequest& request) {
    auto& elements = request.params->get_ref<json::array_t&>();
    if (string.is_null() && elements[0].is_string()) string.swap(elements[0]);
    elements.clear();
    params.swap(*request.params);
  }
};

json result_ours(const Text& text, std::int64_t id) {
  json result;
  if (!detail::read_result_layout(std::string_view(text), id, result)) {
    mismatch("echo reply not in layout");
  }
  return result;
}

// A reassembled body, which the reader may take over (see read_json_members_taking).
JsonRpcRequest large_request_ours(std::string& body) {
  auto item = detail::parse_single_request_taking(body);
  if (!item || !std::holds_alternative<JsonRpcRequest>(item->content)) {
    mismatch("large request refused");
  }
  return std::move(std::get<JsonRpcRequest>(item->content));
}

json large_result_ours(std::string& body) {
  auto reply = detail::parse_single_response_taking(body);
  if (!reply || reply->is_error()) mismatch("large reply refused");
  return std::move(std::get<0>(reply->outcome));
}

// ---- equality ----

void expect_same_request(const JsonRpcRequest& a, const JsonRpcRequest& b, const char* who) {
  if (a.method != b.method || a.params.has_value() != b.params.has_value() ||
      a.id.has_value() != b.id.has_value() || (a.params && !identical(*a.params, *b.params)) ||
      (a.id && !identical(*a.id, *b.id))) {
    mismatch(std::string(who) + " read the request differently");
  }
}

void expect_same(const json& a, const json& b, const char* who) {
  if (!identical(a, b)) mismatch(std::string(who) + " built a different value");
}

// ---- timing ----

// One reader's work on one text, timed as a row of the table.
struct Contender {
  std::string reader;
  std::function<void()> op;
};

// A row's text, its size, how many op() calls a run makes, and how many parses one op() is.
struct Timing {
  Timing(std::string text_, std::size_t bytes_, std::size_t iterations_, std::size_t per_op = 1)
      : text(std::move(text_)), bytes(bytes_), iterations(iterations_), parses_per_op(per_op) {}
  std::string text;
  std::size_t bytes;
  std::size_t iterations;
  std::size_t parses_per_op;
  std::function<void()> setup;  // if set: before each op(), untimed (a fresh reassembled body)
};

// Nanoseconds per op() over one run of `iterations` calls.
double one_run(const Timing& timing, const std::function<void()>& op) {
  Clock::duration total{};
  if (!timing.setup) {
    const auto start = Clock::now();
    for (std::size_t i = 0; i < timing.iterations; ++i) op();
    total = Clock::now() - start;
  } else {
    for (std::size_t i = 0; i < timing.iterations; ++i) {
      timing.setup();
      const auto start = Clock::now();
      op();
      total += Clock::now() - start;
    }
  }
  const std::chrono::duration<double, std::nano> took = total;
  return took.count() / static_cast<double>(timing.iterations);
}

void print_header() {
  std::printf("| text | bytes | reader | ns per parse | MB/s | fastest run |\n"
              "|---|--:|---|--:|--:|--:|\n");
}

// The median of the runs, and the fastest run (on a busy machine, the least disturbed).
void print_row(const Timing& timing, const std::string& reader, std::vector<double> ns) {
  std::sort(ns.begin(), ns.end());
  const auto per = static_cast<double>(timing.parses_per_op);
  const double median = ns[ns.size() / 2] / per;
  const double mb_per_s = static_cast<double>(timing.bytes) / median * 1e3;
  std::printf("| %s | %zu | %s | %.0f | %.0f | %.0f |\n", timing.text.c_str(), timing.bytes,
              reader.c_str(), median, mb_per_s, ns.front() / per);
  std::fflush(stdout);
}

// Each run times every contender in turn, so that a change in the machine's load reaches them
// alike; one untimed call each first sizes the parsers' buffers and settles malloc.
void time_rows(const Config& config, const Timing& timing,
               const std::vector<Contender>& contenders) {
  std::vector<std::vector<double>> ns(contenders.size());
  for (const Contender& c : contenders) {
    if (timing.setup) timing.setup();
    c.op();
  }
  for (int run = 0; run < config.runs; ++run) {
    for (std::size_t i = 0; i < contenders.size(); ++i) {
      ns[i].push_back(one_run(timing, contenders[i].op));
    }
  }
  for (std::size_t i = 0; i < contenders.size(); ++i) {
    print_row(timing, contenders[i].reader, ns[i]);
  }
}

// ---- 1. the pinned echo ----

// The whole text as one value, by each reader: for scale beside the envelope readers.
void whole_text_rows(const Config& config, const std::string& name, const Text& text,
                     sj::ondemand::parser& ondemand, sj::dom::parser& dom, std::size_t n) {
  const json expected = detail::read_json(std::string_view(text), kMaxJsonDepth);
  sj::ondemand::document document = ondemand.iterate(padded(text));
  expect_same(expected, document_from_ondemand(document), "simdjson On-Demand (whole text)");
  expect_same(expected, from_dom(dom.parse(text.data(), text.size(), false)),
              "simdjson DOM (whole text)");
  expect_same(expected, json::parse(std::string_view(text)), "nlohmann::json::parse");
  time_rows(config, {name, text.size(), n},
            {{"procslink read_json, whole text",
              [&] { detail::read_json(std::string_view(text), kMaxJsonDepth); }},
             {"simdjson On-Demand, whole text",
              [&] {
                sj::ondemand::document d = ondemand.iterate(padded(text));
                document_from_ondemand(d);
              }},
             {"simdjson DOM, whole text",
              [&] { from_dom(dom.parse(text.data(), text.size(), false)); }},
             {"nlohmann::json::parse, whole text",
              [&] { (void)!json::parse(std::string_view(text)).is_null(); }}});
}

void echo_request_rows(const Config& config, sj::ondemand::parser& ondemand, sj::dom::parser& dom,
                       std::size_t n) {
  const Text text = echo_request(json(kEchoPayload));
  const JsonRpcRequest expected = request_ours(text);
  if (expected.method != "echo" || *expected.params != json::array({kEchoPayload})) {
    mismatch("the echo request read back wrong");
  }
  expect_same_request(expected, request_ondemand(ondemand, text), "simdjson On-Demand");
  expect_same_request(expected, request_dom(dom, text), "simdjson DOM");
  Spares spares;
  JsonRpcRequest spared = spares.read(text);
  expect_same_request(expected, spared, "procslink with spares");
  spares.recycle(spared);

  const std::string name = "echo request (server)";
  time_rows(config, {name, text.size(), n},
            {{"procslink read_request_layout", [&] { request_ours(text); }},
             {"procslink read_request_layout, the peer's spares",
              [&] {
                JsonRpcRequest request = spares.read(text);
                spares.recycle(request);
              }},
             {"simdjson On-Demand + conversion", [&] { request_ondemand(ondemand, text); }},
             {"simdjson DOM + conversion", [&] { request_dom(dom, text); }}});
  whole_text_rows(config, name, text, ondemand, dom, n);
}

void echo_reply_rows(const Config& config, sj::ondemand::parser& ondemand, sj::dom::parser& dom,
                     std::size_t n) {
  const Text text = echo_reply(json(kEchoPayload));
  const json expected = result_ours(text, kEchoId);
  if (expected != kEchoPayload) mismatch("the echo reply read back wrong");
  expect_same(expected, result_ondemand(ondemand, text, kEchoId), "simdjson On-Demand");
  expect_same(expected, result_dom(dom, text, kEchoId), "simdjson DOM");

  const std::string name = "echo reply (client)";
  time_rows(config, {name, text.size(), n},
            {{"procslink read_result_layout", [&] { result_ours(text, kEchoId); }},
             {"simdjson On-Demand + conversion",
              [&] { result_ondemand(ondemand, text, kEchoId); }},
             {"simdjson DOM + conversion", [&] { result_dom(dom, text, kEchoId); }}});
  whole_text_rows(config, name, text, ondemand, dom, n);
}

// ---- 2. the large echo ----

std::string size_name(std::size_t size) { return std::to_string(size >> 20) + " MiB"; }

using Reader = std::pair<std::string, std::function<void(Text& body)>>;

// Each timed read gets a fresh copy of the text, as reassembly leaves it (the copy untimed):
// the peer's reader may take that buffer over; simdjson's is left as it was.
void large_rows(const Config& config, const std::string& name, const Text& text, std::size_t n,
                const std::vector<Reader>& readers) {
  Text body;
  Timing timing{name, text.size(), n};
  timing.setup = [&] {
    body.reserve(text.size() + sj::SIMDJSON_PADDING);
    body.assign(text);
  };
  std::vector<Contender> contenders;
  for (const auto& [reader, read] : readers) {
    contenders.push_back({reader, [&body, &read = read] { read(body); }});
  }
  time_rows(config, timing, contenders);
}

void large_request_rows(const Config& config, std::size_t size, std::size_t n,
                        sj::ondemand::parser& ondemand, sj::dom::parser& dom) {
  const json params = json::array({std::string(size, 'a')});
  const json id = kEchoId;
  std::string bytes;
  detail::append_request(bytes, nullptr, "echo", &params, &id);
  const Text text = padded_text(bytes);
  Text body = padded_text(text);
  const JsonRpcRequest expected = large_request_ours(body);
  if (!identical(*expected.params, params)) mismatch("the large request read back wrong");
  expect_same_request(expected, request_ondemand(ondemand, text), "simdjson On-Demand");
  expect_same_request(expected, request_dom(dom, text), "simdjson DOM");
  large_rows(config, "large echo request, " + size_name(size), text, n,
             {{"procslink parse_single_request_taking", [](Text& b) { large_request_ours(b); }},
              {"simdjson On-Demand + conversion",
               [&](Text& b) { request_ondemand(ondemand, b); }},
              {"simdjson DOM + conversion", [&](Text& b) { request_dom(dom, b); }}});
}

void large_reply_rows(const Config& config, std::size_t size, std::size_t n,
                      sj::ondemand::parser& ondemand, sj::dom::parser& dom) {
  const json result = std::string(size, 'a');
  const Text text = echo_reply(result);
  Text body = padded_text(text);
  const json expected = large_result_ours(body);
  if (!identical(expected, result)) mismatch("the large reply read back wrong");
  expect_same(expected, result_ondemand(ondemand, text, kEchoId), "simdjson On-Demand");
  expect_same(expected, result_dom(dom, text, kEchoId), "simdjson DOM");
  large_rows(config, "large echo reply, " + size_name(size), text, n,
             {{"procslink parse_single_response_taking", [](Text& b) { large_result_ours(b); }},
              {"simdjson On-Demand + conversion",
               [&](Text& b) { result_ondemand(ondemand, b, kEchoId); }},
              {"simdjson DOM + conversion", [&](Text& b) { result_dom(dom, b, kEchoId); }}});
}

// ---- 3. the fuzzers' corpora ----

// The corpora of the targets that read JSON text (the others hold binary datagrams).
std::vector<std::pair<std::string, Text>> corpus_texts(const std::string& fuzz_dir) {
  namespace fs = std::filesystem;
  std::vector<std::pair<std::string, Text>> texts;
  for (const char* top : {"seeds", "regressions"}) {
    for (const char* target : {"json_reader", "jsonrpc_request", "jsonrpc_response"}) {
      const fs::path dir = fs::path(fuzz_dir) / top / target;
      if (!fs::is_directory(dir)) continue;
      for (const auto& entry : fs::directory_iterator(dir)) {
        std::ifstream file(entry.path(), std::ios::binary);
        std::string bytes{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
        texts.emplace_back(std::string(top) + "/" + target + "/" + entry.path().filename().string(),
                           padded_text(bytes));
      }
    }
  }
  std::sort(texts.begin(), texts.end());
  return texts;
}

using WholeReader = std::function<json(const Text&)>;

std::optional<json> try_read(const WholeReader& read, const Text& text) {
  try {
    return read(text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

using Corpus = std::vector<std::pair<std::string, Text>>;
using WholeReaders = std::vector<std::pair<std::string, WholeReader>>;

// Where simdjson and procslink disagree, one line each; values both accept must be identical.
// Returns the texts every reader accepts.
Corpus compare_on_corpus(const Corpus& texts, const WholeReaders& readers) {
  Corpus accepted;
  for (const auto& [name, text] : texts) {
    const std::optional<json> ours = try_read(readers[0].second, text);
    bool all = ours.has_value();
    for (std::size_t r = 1; r < readers.size(); ++r) {
      const std::optional<json> theirs = try_read(readers[r].second, text);
      if (ours && theirs && !identical(*ours, *theirs)) {
        mismatch(readers[r].first + " built a different value for " + name);
      }
      if (ours.has_value() != theirs.has_value()) {
        std::printf("note: %s %s %s, which procslink %s\n", readers[r].first.c_str(),
                    theirs ? "accepts" : "refuses", name.c_str(), ours ? "accepts" : "refuses");
      }
      all = all && theirs.has_value();
    }
    if (all) accepted.emplace_back(name, padded_text(text));
  }
  return accepted;
}

// Per text: each reader's time for the whole corpus, over the number of texts.
void corpus_timing(const Config& config, const std::string& what, const Corpus& texts,
                   const WholeReaders& readers, std::size_t n) {
  std::size_t bytes = 0;
  for (const auto& entry : texts) bytes += entry.second.size();
  const Timing timing{what + ", " + std::to_string(texts.size()) + " texts (per text)",
                      bytes / texts.size(), n, texts.size()};
  std::vector<Contender> contenders;
  for (const auto& [reader, read] : readers) {
    contenders.push_back({reader + ", whole text", [&texts, &read = read] {
                            for (const auto& entry : texts) try_read(read, entry.second);
                          }});
  }
  time_rows(config, timing, contenders);
}

void corpus_rows(const Config& config, sj::ondemand::parser& ondemand, sj::dom::parser& dom,
                 std::size_t n) {
  const Corpus texts = corpus_texts(config.fuzz_dir);
  if (texts.empty()) mismatch("no corpus under " + config.fuzz_dir);
  const WholeReaders readers{
      {"procslink read_json", [](const Text& t) { return detail::read_json(t, kMaxJsonDepth); }},
      {"simdjson On-Demand + conversion",
       [&](const Text& t) {
         sj::ondemand::document d = ondemand.iterate(padded(t));
         return document_from_ondemand(d);
       }},
      {"simdjson DOM + conversion",
       [&](const Text& t) { return from_dom(dom.parse(t.data(), t.size(), false)); }},
      {"nlohmann::json::parse", [](const Text& t) { return json::parse(t); }}};
  const Corpus accepted = compare_on_corpus(texts, readers);
  corpus_timing(config, "fuzz corpora", texts, readers, n);
  corpus_timing(config, "fuzz corpora, accepted by all", accepted, readers, n);
}

// ---- the run ----

std::string first_line_of(const char* path, const std::string& prefix) {
  std::ifstream file(path);
  for (std::string line; std::getline(file, line);) {
    if (line.rfind(prefix, 0) == 0) {
      const auto colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  }
  return "unknown";
}

void print_machine(const Config& config) {
  utsname u{};
  ::uname(&u);
  std::printf("procslink_json_bench %s mode (%s build), %d runs per row, median shown\n",
              config.quick ? "quick" : "full", PROCSLINK_BENCH_BUILD_TYPE, config.runs);
  std::printf("kernel %s, %s; simdjson %s (On-Demand: %s, compiled in; DOM: %s, chosen at run "
              "time); nlohmann::json %d.%d.%d\n\n",
              u.release, first_line_of("/proc/cpuinfo", "model name").c_str(),
              SIMDJSON_STRINGIFY(SIMDJSON_VERSION),
              SIMDJSON_STRINGIFY(SIMDJSON_BUILTIN_IMPLEMENTATION),
              sj::get_active_implementation()->name().c_str(),
              NLOHMANN_JSON_VERSION_MAJOR, NLOHMANN_JSON_VERSION_MINOR,
              NLOHMANN_JSON_VERSION_PATCH);
}

Config parse_args(int argc, char** argv) {
  Config config;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--quick") {
      config.quick = true;
      config.runs = 1;
    } else if (arg.rfind("--runs=", 0) == 0) {
      config.runs = std::max(1, std::atoi(argv[i] + 7));
    } else if (arg.rfind("--fuzz-dir=", 0) == 0) {
      config.fuzz_dir = std::string(arg.substr(11));
    } else {
      std::fprintf(stderr, "usage: procslink_json_bench [--quick] [--runs=N] [--fuzz-dir=DIR]\n");
      std::exit(2);
    }
  }
  return config;
}

void run(const Config& config) {
  sj::ondemand::parser ondemand;
  sj::dom::parser dom;
  const std::size_t small = config.quick ? 1000 : 20000;
  print_machine(config);
  print_header();
  echo_request_rows(config, ondemand, dom, small);
  echo_reply_rows(config, ondemand, dom, small);
  large_request_rows(config, 1u << 20, config.quick ? 2 : 20, ondemand, dom);
  large_reply_rows(config, 1u << 20, config.quick ? 2 : 20, ondemand, dom);
  if (!config.quick) {
    large_request_rows(config, 64u << 20, 1, ondemand, dom);
    large_reply_rows(config, 64u << 20, 1, ondemand, dom);
  }
  corpus_rows(config, ondemand, dom, config.quick ? 20 : 300);
}

}  // namespace
}  // namespace procslink::bench

int main(int argc, char** argv) {
  // Built with PROCSLINK_JSON_BENCH_ARCH, On-Demand's kernels need that CPU.
  const auto* builtin = simdjson::get_available_implementations()[SIMDJSON_STRINGIFY(
      SIMDJSON_BUILTIN_IMPLEMENTATION)];
  if (builtin == nullptr || !builtin->supported_by_runtime_system()) {
    std::fprintf(stderr, "procslink_json_bench: this CPU cannot run the %s build\n",
                 SIMDJSON_STRINGIFY(SIMDJSON_BUILTIN_IMPLEMENTATION));
    return 2;
  }
  try {
    procslink::bench::run(procslink::bench::parse_args(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "procslink_json_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
