// Fuzz target: a JSON-RPC request body as a server sees it, parse_request_body and
// serialize_replies.
//
// parse_request_body must never throw, whatever the bytes. Its result follows the
// specification's shape (one whole-body error, or one request, or a batch whose invalid
// elements carry Invalid Request replies). Every request survives to_json/from_json unchanged,
// and the replies a server would send for the body (here: each request's params echoed back)
// serialize to text that a client parses back to the same responses. A single request object
// (read member by member) gets the same verdict as the same object inside a batch.
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "fuzz_support.hpp"
#include "procslink/jsonrpc.hpp"

using namespace procslink;

namespace {

// True when `value` holds a string that is not valid UTF-8 (a strict dump refuses it).
bool has_invalid_utf8(const json& value) {
  try {
    (void)value.dump();
    return false;
  } catch (const json::type_error&) {
    return true;
  }
}

void check_same_response(const JsonRpcResponse& got, const JsonRpcResponse& sent) {
  FUZZ_CHECK(got.id == sent.id);
  FUZZ_CHECK(got.is_error() == sent.is_error());
  if (sent.is_error()) {
    // A parse error's data quotes the offending input, which may be broken UTF-8; to_text
    // repairs that with U+FFFD, so only then may the text differ.
    FUZZ_CHECK(got.error() == sent.error() || has_invalid_utf8(sent.error().to_json()));
    FUZZ_CHECK(got.error().code == sent.error().code);
  } else {
    FUZZ_CHECK(got.result() == sent.result());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  ParsedRequestBody parsed = parse_request_body(body);

  std::vector<JsonRpcResponse> replies;
  if (parsed.whole_body_error) {
    FUZZ_CHECK(parsed.items.empty());
    const JsonRpcResponse& error = *parsed.whole_body_error;
    FUZZ_CHECK(error.is_error());
    FUZZ_CHECK(error.error().code == error_code::parse_error ||
               error.error().code == error_code::invalid_request);
    // An unparseable body or a non-object has no id to echo.
    if (error.error().code == error_code::parse_error) FUZZ_CHECK(error.id.is_null());
    replies.push_back(error);
  } else {
    FUZZ_CHECK(!parsed.items.empty());
    if (!parsed.batch) {
      FUZZ_CHECK(parsed.items.size() == 1);
      FUZZ_CHECK(std::holds_alternative<JsonRpcRequest>(parsed.items.front().content));
    }
    for (const auto& item : parsed.items) {
      if (const auto* invalid = std::get_if<JsonRpcResponse>(&item.content)) {
        FUZZ_CHECK(invalid->is_error());
        FUZZ_CHECK(invalid->error().code == error_code::invalid_request);
        FUZZ_CHECK(invalid->id.is_null() || invalid->id.is_string() || invalid->id.is_number());
        replies.push_back(*invalid);
        continue;
      }
      const auto& request = std::get<JsonRpcRequest>(item.content);
      if (request.params) FUZZ_CHECK(request.params->is_array() || request.params->is_object());
      const JsonRpcRequest again = JsonRpcRequest::from_json(request.to_json());
      FUZZ_CHECK(again.method == request.method);
      FUZZ_CHECK(again.params == request.params);
      FUZZ_CHECK(again.id == request.id);
      if (request.is_notification()) continue;
      // Echoing the params keeps the reply's nesting depth equal to the request's.
      replies.push_back(
          JsonRpcResponse::success(*request.id, request.params.value_or(json(request.method))));
    }
  }

  // A single object is read member by member, a batch element through a whole json value:
  // the two paths must agree on the same object. Parse errors are left out: wrapping can turn
  // an invalid text valid ("{}]" becomes "[{}]"), or a valid one too deep.
  const bool parse_error = parsed.whole_body_error &&
                           parsed.whole_body_error->error().code == error_code::parse_error;
  if (!parsed.batch && !parse_error) {
    const ParsedRequestBody wrapped = parse_request_body("[" + std::string(body) + "]");
    if (!wrapped.whole_body_error && wrapped.items.size() == 1) {
      const auto& item = wrapped.items.front().content;
      if (const auto* request = std::get_if<JsonRpcRequest>(&item)) {
        FUZZ_CHECK(!parsed.whole_body_error && parsed.items.size() == 1);
        const auto& got = std::get<JsonRpcRequest>(parsed.items.front().content);
        FUZZ_CHECK(got.method == request->method && got.params == request->params &&
                   got.id == request->id);
      } else {
        FUZZ_CHECK(parsed.whole_body_error.has_value());
        FUZZ_CHECK(parsed.whole_body_error->id == std::get<JsonRpcResponse>(item).id);
        FUZZ_CHECK(parsed.whole_body_error->error().code ==
                   std::get<JsonRpcResponse>(item).error().code);
      }
    }
  }

  const std::optional<std::string> text = serialize_replies(parsed.batch, replies);
  FUZZ_CHECK(text.has_value() == !replies.empty());
  if (!text) return 0;
  const std::vector<JsonRpcResponse> back = parse_response_body(*text);
  if (!parsed.batch) {
    FUZZ_CHECK(back.size() == 1);
    check_same_response(back.front(), replies.front());
  } else {
    FUZZ_CHECK(back.size() == replies.size());
    for (std::size_t i = 0; i < back.size(); ++i) check_same_response(back[i], replies[i]);
  }
  return 0;
}
