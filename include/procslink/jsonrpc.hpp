// jsonrpc.hpp - the JSON-RPC 2.0 model: requests, notifications, responses, errors, batches.
//
// Pure protocol, no I/O: turns bodies into typed messages and back, and applies the
// specification's rules (ids that are strings, numbers or null; batches, including the empty
// and invalid batch cases). Values are nlohmann::json, the type users already know.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "procslink/error.hpp"

namespace procslink {

using json = nlohmann::json;

// The specification's error codes. -32000..-32099 are left to servers; procslink uses a few
// of them (see PROTOCOL.md).
namespace error_code {
inline constexpr int parse_error = -32700;
inline constexpr int invalid_request = -32600;
inline constexpr int method_not_found = -32601;
inline constexpr int invalid_params = -32602;
inline constexpr int internal_error = -32603;
inline constexpr int server_error_first = -32099;
inline constexpr int server_error_last = -32000;
inline constexpr int access_denied = -32001;  // caller's uid/gid not allowed by the peer's policy
inline constexpr int message_too_large = -32002;
inline constexpr int server_stopping = -32003;  // the peer is stopping: it runs no new requests
inline constexpr int server_busy = -32004;  // the caller's uid runs its share of the threads

// The standard message for a code ("Method not found", ...), or "Server error".
const char* default_message(int code);
}  // namespace error_code

// The error object of a response.
struct ErrorObject {
  int code = error_code::internal_error;
  std::string message;
  std::optional<json> data;  // absent is not the same as null

  json to_json() const;
  static ErrorObject from_json(const json& j);  // throws FramingError if malformed
  bool operator==(const ErrorObject&) const = default;
};

// A JSON-RPC error as an exception. Handlers throw it to answer with a specific error;
// RemoteError (peer.hpp) derives from it.
class JsonRpcError : public Error {
 public:
  JsonRpcError(int code, std::string message, std::optional<json> data = std::nullopt);
  explicit JsonRpcError(ErrorObject error);
  int code() const noexcept { return error_.code; }
  const std::string& message() const noexcept { return error_.message; }
  const std::optional<json>& data() const noexcept { return error_.data; }
  const ErrorObject& error() const noexcept { return error_; }

 private:
  static std::string describe(const ErrorObject& error);
  ErrorObject error_;
};

namespace detail {
// One positional argument of Channel::call or notify, written into the request where it lies:
// a json value, or (value null) text, written as a JSON string without becoming a json first.
struct ParamArg {
  const json* value = nullptr;
  std::string_view text;
};
}  // namespace detail

// A request, or a notification when it has no id. An id present but null is still a request
// (the specification discourages it, but it is valid and gets a reply with id null).
struct JsonRpcRequest {
  std::string method;
  std::optional<json> params;  // array or object when present
  std::optional<json> id;      // string, integer or null; nullopt = notification

  bool is_notification() const { return !id.has_value(); }
  json to_json() const;
  // The compact JSON text, written directly (no intermediate json object, no copy of params).
  // Text that would nest deeper than kMaxJsonDepth (the envelope included), which no peer
  // reads, throws TransportError(too_large) instead; so do the other writers below.
  std::string serialize() const;
  // The same text for a request given by parts (null pointers: absent), without copying them.
  static std::string serialize(std::string_view method, const json* params, const json* id);
  // The same text, appended to `text` (whose capacity a sender can keep from one message to
  // the next).
  static void append_to(std::string& text, std::string_view method, const json* params,
                        const json* id);
  // Validates one request object. Throws JsonRpcError(invalid_request) and, when the object
  // carried a usable id, `id_out` receives it so the error reply can echo it. The rvalue form
  // moves params out instead of copying them.
  static JsonRpcRequest from_json(const json& j, json* id_out = nullptr);
  static JsonRpcRequest from_json(json&& j, json* id_out = nullptr);
};

struct JsonRpcResponse {
  json id;  // null when the request's id could not be determined
  std::variant<json, ErrorObject> outcome;

  bool is_error() const { return outcome.index() == 1; }
  const json& result() const { return std::get<0>(outcome); }
  const ErrorObject& error() const { return std::get<1>(outcome); }

  static JsonRpcResponse success(json id, json result);
  static JsonRpcResponse failure(json id, ErrorObject error);
  json to_json() const;
  std::string serialize() const;  // compact JSON text, written directly
  void append_to(std::string& text) const;  // the same text, appended
  static JsonRpcResponse from_json(json&& j);  // throws FramingError if malformed; moves result
  static JsonRpcResponse from_json(const json& j) { return from_json(json(j)); }
};

// A request body as a server sees it, after the specification's rules: either one error reply
// for the whole body (parse error, empty batch, not an object or array), or items to dispatch.
struct ParsedRequestBody {
  struct Item {
    // A valid request, or the error reply owed for an invalid batch element.
    std::variant<JsonRpcRequest, JsonRpcResponse> content;
  };
  bool batch = false;
  std::optional<JsonRpcResponse> whole_body_error;
  std::vector<Item> items;
};

// Applies JSON-RPC 2.0 parsing rules to a request body. Never throws for bad input; the nesting
// depth is limited so hostile bodies cannot exhaust the stack.
ParsedRequestBody parse_request_body(std::string_view body);

// Serializes the replies owed for a parsed body (notifications owe none): a single object, an
// array for a batch, or nothing at all when no reply is due. A reply nesting deeper than any
// peer reads (kMaxJsonDepth) is replaced by the internal error reply (-32603) with its id.
std::optional<std::string> serialize_replies(bool batch,
                                             const std::vector<JsonRpcResponse>& replies);
// The same, appended to `text`; returns false (and appends nothing) when no reply is due.
bool append_replies(std::string& text, bool batch, const std::vector<JsonRpcResponse>& replies);

// A response body as a client sees it: one response or a batch of them. Throws FramingError
// when it is not valid JSON or not a response.
std::vector<JsonRpcResponse> parse_response_body(std::string_view body);

// Serializes compactly. Strings that are not valid UTF-8 (a handler may return raw bytes) are
// repaired with U+FFFD instead of throwing, so a reply can always be sent.
std::string to_text(const json& value);

// Maximum nesting depth accepted in any body.
inline constexpr int kMaxJsonDepth = 256;
// Parses JSON text with the depth limit; throws JsonRpcError(parse_error) on failure.
json parse_json(std::string_view text);

}  // namespace procslink
