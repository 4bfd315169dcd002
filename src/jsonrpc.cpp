#include "procslink/jsonrpc.hpp"

#include <charconv>
#include <cstring>

#include "json_reader.hpp"
#include "json_writer.hpp"
#include "jsonrpc_text.hpp"

namespace procslink {

namespace error_code {
const char* default_message(int code) {
  switch (code) {
    case parse_error: return "Parse error";
    case invalid_request: return "Invalid Request";
    case method_not_found: return "Method not found";
    case invalid_params: return "Invalid params";
    case internal_error: return "Internal error";
    case access_denied: return "Access denied";
    case message_too_large: return "Message too large";
    case server_stopping: return "Server stopping";
    case server_busy: return "Server busy";
    default: return "Server error";
  }
}
}  // namespace error_code

namespace {

bool is_valid_id(const json& id) {
  return id.is_string() || id.is_number() || id.is_null();
}

JsonRpcResponse invalid_request(json id, std::string why) {
  return JsonRpcResponse::failure(std::move(id),
                                  {error_code::invalid_request, "Invalid Request", std::move(why)});
}

}  // namespace

json ErrorObject::to_json() const {
  json j = {{"code", code}, {"message", message}};
  if (data) j["data"] = *data;
  return j;
}

ErrorObject ErrorObject::from_json(const json& j) {
  if (!j.is_object() || !j.contains("code") || !j["code"].is_number_integer() ||
      !j.contains("message") || !j["message"].is_string()) {
    throw FramingError("error member is not an object with an integer code and a string message");
  }
  ErrorObject e{j["code"].get<int>(), j["message"].get<std::string>(), std::nullopt};
  if (auto it = j.find("data"); it != j.end()) e.data = *it;
  return e;
}

JsonRpcError::JsonRpcError(int code, std::string message, std::optional<json> data)
    : JsonRpcError(ErrorObject{code, std::move(message), std::move(data)}) {}

JsonRpcError::JsonRpcError(ErrorObject error) : Error(describe(error)), error_(std::move(error)) {}

std::string JsonRpcError::describe(const ErrorObject& error) {
  std::string text = error.message + " (" + std::to_string(error.code) + ")";
  if (error.data) text += ": " + (error.data->is_string() ? error.data->get<std::string>()
                                                           : to_text(*error.data));
  return text;
}

json JsonRpcRequest::to_json() const {
  json j = {{"jsonrpc", "2.0"}, {"method", method}};
  if (params) j["params"] = *params;
  if (id) j["id"] = *id;
  return j;
}

std::string JsonRpcRequest::serialize() const {
  return serialize(method, params ? &*params : nullptr, id ? &*id : nullptr);
}

std::string JsonRpcRequest::serialize(std::string_view method, const json* params,
                                      const json* id) {
  std::string text;
  text.reserve(256);  // most requests fit: one allocation instead of several as it grows
  append_to(text, method, params, id);
  return text;
}

void JsonRpcRequest::append_to(std::string& text, std::string_view method, const json* params,
                               const json* id) {
  detail::append_request(text, nullptr, method, params, id);
}

namespace {
// The members of a request or response envelope that the specification gives meaning to.
// Null where absent; a request object may carry other members, which are ignored.
struct Envelope {
  const json* version = nullptr;
  const json* id = nullptr;
  const json* method = nullptr;
  const json* params = nullptr;
  const json* result = nullptr;
  const json* error = nullptr;
  // "jsonrpc" and "method" when they were read as plain text (strings); then the json
  // pointers above are null.
  const std::string* version_text = nullptr;
  const std::string* method_text = nullptr;

  bool version_is_2_0() const {
    return version_text ? *version_text == "2.0" : version && *version == "2.0";
  }

  static Envelope of(const json& object) {
    Envelope e;
    auto member = [&object](const char* key) -> const json* {
      auto it = object.find(key);
      return it == object.end() ? nullptr : &*it;
    };
    e.version = member("jsonrpc");
    e.id = member("id");
    e.method = member("method");
    e.params = member("params");
    e.result = member("result");
    e.error = member("error");
    return e;
  }
};

// The members of one envelope read straight from text (see read_json_members): the same
// fields, owned, without the object around them. "jsonrpc" and "method" strings are read as
// plain text, which spares a json (an allocation each) per message.
struct ReadEnvelope final : detail::MemberReceiver {
  // Lengths first: std::string == const char* would call memcmp for every pair.
  static bool is(std::string_view key, std::string_view name) { return key == name; }

  std::optional<json> version, id, method, params, result, error;
  std::string version_text, method_text;
  bool version_is_text = false, method_is_text = false;

  std::string* text_slot(std::string_view key) override {
    // A repeated key: the last one wins, as in a json object, whichever form each one has.
    if (is(key, "jsonrpc")) {
      version.reset();
      version_is_text = true;
      return &version_text;
    }
    if (is(key, "method")) {
      method.reset();
      method_is_text = true;
      return &method_text;
    }
    return nullptr;
  }
  void take(std::string_view key, json&& value) override {
    std::optional<json>* slot = nullptr;
    if (is(key, "params")) {
      slot = &params;
    } else if (is(key, "id")) {
      slot = &id;
    } else if (is(key, "result")) {
      slot = &result;
    } else if (is(key, "error")) {
      slot = &error;
    } else if (is(key, "method")) {  // not a string: text_slot took those
      slot = &method;
      method_is_text = false;
    } else if (is(key, "jsonrpc")) {
      slot = &version;
      version_is_text = false;
    }
    if (slot) *slot = std::move(value);
  }
  // Reads a text that is one object; throws detail::JsonSyntaxError.
  void read(std::string_view text) { detail::read_json_members(text, kMaxJsonDepth, *this); }
  void read_taking(const detail::OwnedBody& body) {
    if (body.head.empty()) {
      detail::read_json_members_taking(body.rest, kMaxJsonDepth, *this);
    } else {
      detail::read_json_members_taking(body.head, body.rest, body.checked, kMaxJsonDepth, *this);
    }
  }
  Envelope view() const {
    auto at = [](const std::optional<json>& o) { return o ? &*o : nullptr; };
    Envelope e{at(version), at(id), at(method), at(params), at(result), at(error)};
    if (version_is_text) e.version_text = &version_text;
    if (method_is_text) e.method_text = &method_text;
    return e;
  }
};

JsonRpcError parse_error_of(const detail::JsonSyntaxError& e) {
  return JsonRpcError(error_code::parse_error, "Parse error", std::string(e.what()));
}

// Whether `text` is a single JSON object (not a batch), judging by its first byte.
bool looks_like_object(std::string_view text) {
  for (const char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    return c == '{';
  }
  return false;
}

// Validates everything but copies nothing large: params are left to the caller.
JsonRpcRequest validate_request(const Envelope& e, json* id_out) {
  JsonRpcRequest request;
  if (e.id) {
    if (!is_valid_id(*e.id)) {
      throw JsonRpcError(error_code::invalid_request, "Invalid Request",
                         "id must be a string, a number or null");
    }
    request.id = *e.id;
    if (id_out) *id_out = *e.id;
  }
  auto fail = [](const char* why) {
    throw JsonRpcError(error_code::invalid_request, "Invalid Request", why);
  };
  if (!e.version_is_2_0()) fail("jsonrpc must be exactly \"2.0\"");
  if (e.method_text) {
    request.method = *e.method_text;
  } else {
    if (!e.method || !e.method->is_string()) fail("method must be a string");
    request.method = e.method->get<std::string>();
  }
  if (e.params && !e.params->is_array() && !e.params->is_object()) {
    fail("params must be an array or an object");
  }
  return request;
}

JsonRpcRequest validate_request(const json& j, json* id_out) {
  if (!j.is_object()) throw JsonRpcError(error_code::invalid_request, "Invalid Request",
                                         "a request must be a JSON object");
  return validate_request(Envelope::of(j), id_out);
}

// Throws FramingError if malformed; moves result and error out of `e`.
JsonRpcResponse validate_response(const Envelope& e) {
  if (!e.version_is_2_0()) throw FramingError("response lacks jsonrpc \"2.0\"");
  if (!e.id || !is_valid_id(*e.id)) throw FramingError("response lacks a valid id");
  if ((e.result == nullptr) == (e.error == nullptr)) {
    throw FramingError("response must have exactly one of result and error");
  }
  // The envelope's members are owned by the caller, who hands them over for moving.
  if (e.result) return JsonRpcResponse::success(*e.id, std::move(*const_cast<json*>(e.result)));
  return JsonRpcResponse::failure(*e.id, ErrorObject::from_json(*e.error));
}
}  // namespace

JsonRpcRequest JsonRpcRequest::from_json(const json& j, json* id_out) {
  JsonRpcRequest request = validate_request(j, id_out);
  if (auto params = j.find("params"); params != j.end()) request.params = *params;
  return request;
}

JsonRpcRequest JsonRpcRequest::from_json(json&& j, json* id_out) {
  JsonRpcRequest request = validate_request(j, id_out);
  if (auto params = j.find("params"); params != j.end()) request.params = std::move(*params);
  return request;
}

JsonRpcResponse JsonRpcResponse::success(json id, json result) {
  return {std::move(id), std::move(result)};
}

JsonRpcResponse JsonRpcResponse::failure(json id, ErrorObject error) {
  return {std::move(id), std::move(error)};
}

json JsonRpcResponse::to_json() const {
  json j = {{"jsonrpc", "2.0"}, {"id", id}};
  if (is_error()) j["error"] = error().to_json();
  else j["result"] = result();
  return j;
}

std::string JsonRpcResponse::serialize() const {
  std::string text;
  text.reserve(256);
  append_to(text);
  return text;
}

void JsonRpcResponse::append_to(std::string& text) const {
  detail::append_response(text, nullptr, *this);
}

JsonRpcResponse JsonRpcResponse::from_json(json&& j) {
  if (!j.is_object()) throw FramingError("response is not a JSON object");
  return validate_response(Envelope::of(j));
}

std::string to_text(const json& value) {
  std::string text;
  detail::append_json(text, value);
  return text;
}

json parse_json(std::string_view text) {
  try {
    return detail::read_json(text, kMaxJsonDepth);
  } catch (const detail::JsonSyntaxError& e) {
    throw parse_error_of(e);
  }
}

namespace {

// ---- the layout procslink peers write ----
//
// append_request and append_response write members in one order, without whitespace. A body
// in exactly that layout is read here, its fixed bytes matched and only the values parsed;
// what these readers do not take (any other layout, an escaped method name, an error reply,
// anything invalid) is read by the general path, which then decides. So they only ever return
// what the general path would: the same members, and JSON read by the same reader.

// Moves `pos` past `literal` if the text continues with it there.
bool skip_literal(std::string_view text, std::size_t& pos, std::string_view literal) {
  if (text.size() - pos < literal.size() ||
      std::memcmp(text.data() + pos, literal.data(), literal.size()) != 0) {
    return false;
  }
  pos += literal.size();
  return true;
}

// The same for a literal whose length the compiler knows: the comparison is a few loads and
// compares in place, with no call.
template <std::size_t N>
inline bool skip_literal(std::string_view text, std::size_t& pos, const char (&literal)[N]) {
  constexpr std::size_t size = N - 1;
  if (text.size() - pos < size || std::memcmp(text.data() + pos, literal, size) != 0) return false;
  pos += size;
  return true;
}

// The usual id, a non-negative integer of up to 18 digits right before the closing brace,
// read without the JSON reader into what the reader would make of it (an unsigned number).
// False, with nothing read, for any other id.
bool read_plain_id(std::string_view body, std::size_t& pos, std::optional<json>& id) {
  std::size_t end = pos;
  std::uint64_t value = 0;
  while (end < body.size() && end - pos < 18 && body[end] >= '0' && body[end] <= '9') {
    value = value * 10 + static_cast<unsigned>(body[end] - '0');
    ++end;
  }
  if (end == pos || end == body.size() || body[end] != '}' || (body[pos] == '0' && end > pos + 1)) {
    return false;
  }
  id.emplace(static_cast<json::number_unsigned_t>(value));
  pos = end;
  return true;
}

}  // namespace

// {"jsonrpc":"2.0","method":"M"[,"params":P][,"id":I]} with M plain printable ASCII.
bool detail::read_request_layout(std::string_view body, JsonRpcRequest& request,
                                 json* spare_params, json* spare_string) {
  std::size_t pos = 0;
  if (!skip_literal(body, pos, R"({"jsonrpc":"2.0","method":")")) return false;
  const std::size_t method_begin = pos;
  for (; pos < body.size() && body[pos] != '"'; ++pos) {
    const auto c = static_cast<unsigned char>(body[pos]);
    if (c < 0x20 || c >= 0x80 || c == '\\') return false;
  }
  if (pos == body.size()) return false;
  request.method.assign(body.substr(method_begin, pos - method_begin));
  ++pos;
  try {
    if (skip_literal(body, pos, R"(,"params":)")) {
      if (spare_params != nullptr && spare_params->is_array() && pos < body.size() &&
          body[pos] == '[') {
        request.params = std::move(*spare_params);
        read_json_value_into(body, pos, kMaxJsonDepth - 1, *request.params, spare_string);
      } else {
        request.params = read_json_value(body, pos, kMaxJsonDepth - 1);
      }
      if (!request.params->is_array() && !request.params->is_object()) return false;
    }
    if (skip_literal(body, pos, R"(,"id":)") && !read_plain_id(body, pos, request.id)) {
      request.id = read_json_value(body, pos, kMaxJsonDepth - 1);
      if (!is_valid_id(*request.id)) return false;
    }
  } catch (const JsonSyntaxError&) {
    return false;
  }
  return skip_literal(body, pos, "}") && json_ends_at(body, pos);
}

// {"jsonrpc":"2.0","id":I,"result":R}
bool detail::read_success_layout(std::string_view body,
                                 std::optional<JsonRpcResponse>& response) {
  std::size_t pos = 0;
  if (!skip_literal(body, pos, R"({"jsonrpc":"2.0","id":)")) return false;
  // Values are read straight into the reply's members (no temporaries to move and destroy).
  JsonRpcResponse& reply = response.emplace();
  try {
    reply.id = read_json_value(body, pos, kMaxJsonDepth - 1);
    if (is_valid_id(reply.id) && skip_literal(body, pos, R"(,"result":)")) {
      std::get<0>(reply.outcome) = read_json_value(body, pos, kMaxJsonDepth - 1);
      if (skip_literal(body, pos, "}") && json_ends_at(body, pos)) return true;
    }
  } catch (const JsonSyntaxError&) {
  }
  response.reset();
  return false;
}

bool detail::read_result_layout(std::string_view body, std::int64_t id, json& result) {
  std::size_t pos = 0;
  char digits[24];
  const auto [digits_end, ec] = std::to_chars(digits, digits + sizeof digits, id);
  if (!skip_literal(body, pos, R"({"jsonrpc":"2.0","id":)") ||
      !skip_literal(body, pos,
                    std::string_view(digits, static_cast<std::size_t>(digits_end - digits))) ||
      !skip_literal(body, pos, R"(,"result":)")) {
    return false;
  }
  try {
    json value = read_json_value(body, pos, kMaxJsonDepth - 1);
    if (!skip_literal(body, pos, "}") || !json_ends_at(body, pos)) return false;
    result.swap(value);
    return true;
  } catch (const JsonSyntaxError&) {
    return false;
  }
}

namespace {

// The usual single request: its members are read straight into place, with no object (a map
// and a node per member) built only to be taken apart. `owned`: the body may be taken.
std::optional<ParsedRequestBody::Item> parse_single_request(std::string_view body,
                                                            const detail::OwnedBody* owned) {
  if (!looks_like_object(owned && !owned->head.empty() ? owned->head : body)) return std::nullopt;
  ReadEnvelope envelope;
  try {
    if (owned) {
      envelope.read_taking(*owned);
    } else {
      envelope.read(body);
    }
  } catch (const detail::JsonSyntaxError& e) {
    return ParsedRequestBody::Item{JsonRpcResponse::failure(nullptr, parse_error_of(e).error())};
  }
  json id = nullptr;
  try {
    JsonRpcRequest request = validate_request(envelope.view(), &id);
    if (envelope.params) request.params = std::move(*envelope.params);
    return ParsedRequestBody::Item{std::move(request)};
  } catch (const JsonRpcError& e) {
    return ParsedRequestBody::Item{JsonRpcResponse::failure(std::move(id), e.error())};
  }
}

}  // namespace

std::optional<ParsedRequestBody::Item> detail::parse_single_request(std::string_view body) {
  return procslink::parse_single_request(body, nullptr);
}

std::optional<ParsedRequestBody::Item> detail::parse_single_request_taking(OwnedBody body) {
  return procslink::parse_single_request(body.rest, &body);
}

namespace {

// Where the string starts that follows the layout peers write up to a request's first
// positional parameter or a success reply's result, when it is a string; 0 when the text does
// not start so (a method name with anything but printable ASCII, an id that is no integer).
std::size_t layout_string_start(std::string_view first) {
  std::size_t pos = 0;
  if (skip_literal(first, pos, R"({"jsonrpc":"2.0","method":")")) {
    while (pos < first.size() && first[pos] >= 0x20 && first[pos] < 0x7f && first[pos] != '"' &&
           first[pos] != '\\') {
      ++pos;
    }
    return skip_literal(first, pos, R"(","params":[")") ? pos : 0;
  }
  if (!skip_literal(first, pos, R"({"jsonrpc":"2.0","id":)")) return 0;
  if (pos < first.size() && first[pos] == '-') ++pos;
  const std::size_t digits = pos;
  while (pos < first.size() && first[pos] >= '0' && first[pos] <= '9') ++pos;
  if (pos == digits || (first[digits] == '0' && pos - digits > 1)) return 0;
  return skip_literal(first, pos, R"(,"result":")") ? pos : 0;
}

}  // namespace

std::optional<detail::OpenStringAt> detail::string_running_on(std::string_view first) {
  // Only a body parse_single_*_taking reads whole, as its head alone (a byte order mark, which
  // the reader skips, would send the split body to the general readers, rest only).
  if (!looks_like_object(first)) return std::nullopt;
  // The usual layouts are matched, which costs no exception; the string must then be clean up
  // to the end or to a UTF-8 sequence the end may cut. Anything else is read.
  if (const std::size_t at = layout_string_start(first); at != 0) {
    const std::size_t clean = clean_prefix(first, at, first.size()) - at;
    if (first.size() - at - clean < 4) return OpenStringAt{at, clean};
  }
  return open_string_at_end(first, kMaxJsonDepth);
}

ParsedRequestBody parse_request_body(std::string_view body) {
  ParsedRequestBody parsed;
  // The peer tries the layout itself first, and then the general reader; so does this.
  if (JsonRpcRequest request; detail::read_request_layout(body, request)) {
    parsed.items.emplace_back().content.emplace<JsonRpcRequest>(std::move(request));
    return parsed;
  }
  if (auto single = detail::parse_single_request(body)) {
    if (auto* error = std::get_if<JsonRpcResponse>(&single->content)) {
      parsed.whole_body_error = std::move(*error);
    } else {
      parsed.items.push_back(std::move(*single));
    }
    return parsed;
  }
  json value;
  try {
    value = parse_json(body);
  } catch (const JsonRpcError& e) {
    parsed.whole_body_error = JsonRpcResponse::failure(nullptr, e.error());
    return parsed;
  }
  auto parse_one = [](json&& j) -> ParsedRequestBody::Item {
    json id = nullptr;
    try {
      return {JsonRpcRequest::from_json(std::move(j), &id)};
    } catch (const JsonRpcError& e) {
      return {JsonRpcResponse::failure(id, e.error())};
    }
  };
  if (value.is_array()) {
    if (value.empty()) {
      parsed.whole_body_error = invalid_request(nullptr, "empty batch");
      return parsed;
    }
    parsed.batch = true;
    parsed.items.reserve(value.size());
    for (json& element : value) parsed.items.push_back(parse_one(std::move(element)));
    return parsed;
  }
  if (!value.is_object()) {
    parsed.whole_body_error = invalid_request(nullptr, "body must be a JSON object or array");
    return parsed;
  }
  parsed.items.push_back(parse_one(std::move(value)));
  if (auto* error = std::get_if<JsonRpcResponse>(&parsed.items.front().content)) {
    parsed.whole_body_error = std::move(*error);
    parsed.items.clear();
  }
  return parsed;
}

std::optional<std::string> serialize_replies(bool batch,
                                             const std::vector<JsonRpcResponse>& replies) {
  std::string text;
  text.reserve(batch ? 128 * replies.size() : 256);
  if (!append_replies(text, batch, replies)) return std::nullopt;
  return text;
}

bool append_replies(std::string& text, bool batch, const std::vector<JsonRpcResponse>& replies) {
  return detail::append_replies(text, nullptr, batch, replies);
}

namespace detail {

void append_response(std::string& text, std::vector<BorrowedRun>* borrowed,
                     const JsonRpcResponse& response, int depth) {
  if (response.is_error()) {
    const json error = response.error().to_json();  // a temporary: nothing may be borrowed
    const EnvelopeMember members[] = {{"", &response.id}, {R"(,"error":)", &error}};
    append_envelope(text, nullptr, R"({"jsonrpc":"2.0","id":)", nullptr, members, depth);
  } else {
    const EnvelopeMember members[] = {{"", &response.id}, {R"(,"result":)", &response.result()}};
    append_envelope(text, borrowed, R"({"jsonrpc":"2.0","id":)", nullptr, members, depth);
  }
}

void append_request(std::string& text, std::vector<BorrowedRun>* borrowed,
                    std::string_view method, const json* params, const json* id) {
  const EnvelopeMember members[] = {{R"(,"params":)", params}, {R"(,"id":)", id}};
  append_envelope(text, borrowed, R"({"jsonrpc":"2.0","method":)", &method, members);
}

bool append_response_or_error(std::string& text, std::vector<BorrowedRun>* borrowed,
                              const JsonRpcResponse& response, int depth) {
  const std::size_t text_size = text.size();
  const std::size_t runs = borrowed ? borrowed->size() : 0;
  try {
    append_response(text, borrowed, response, depth);
    return true;
  } catch (const TransportError& e) {  // nests deeper than any reader takes
    text.resize(text_size);
    if (borrowed) borrowed->resize(runs);
    append_response(text, nullptr,
                    JsonRpcResponse::failure(
                        response.id, {error_code::internal_error, "Internal error", e.what()}),
                    depth);
    return false;
  }
}

bool append_replies(std::string& text, std::vector<BorrowedRun>* borrowed, bool batch,
                    const std::vector<JsonRpcResponse>& replies, std::size_t* replaced) {
  if (replies.empty()) return false;
  std::size_t errors = 0;
  if (!batch) {
    errors += !append_response_or_error(text, borrowed, replies.front(), 1);
  } else {
    text += '[';
    for (std::size_t i = 0; i < replies.size(); ++i) {
      if (i > 0) text += ',';
      errors += !append_response_or_error(text, borrowed, replies[i], 2);
    }
    text += ']';
  }
  if (replaced) *replaced = errors;
  return true;
}
}  // namespace detail

namespace {
std::optional<JsonRpcResponse> parse_single_response(std::string_view body,
                                                     const detail::OwnedBody* owned) {
  std::optional<JsonRpcResponse> response;  // the one object returned, built in place
  if (!looks_like_object(owned && !owned->head.empty() ? owned->head : body)) return response;
  ReadEnvelope envelope;
  try {
    if (owned) {
      envelope.read_taking(*owned);
    } else {
      envelope.read(body);
    }
  } catch (const detail::JsonSyntaxError& e) {
    throw FramingError(std::string("reply is not valid JSON: ") + parse_error_of(e).what());
  }
  response.emplace(validate_response(envelope.view()));
  return response;
}
}  // namespace

std::optional<JsonRpcResponse> detail::parse_single_response(std::string_view body) {
  return procslink::parse_single_response(body, nullptr);
}

std::optional<JsonRpcResponse> detail::parse_single_response_taking(OwnedBody body) {
  return procslink::parse_single_response(body.rest, &body);
}

std::vector<JsonRpcResponse> parse_response_body(std::string_view body) {
  // The peer tries the layout itself first, and then the general reader; so does this.
  std::optional<JsonRpcResponse> single;
  if (!detail::read_success_layout(body, single)) single = detail::parse_single_response(body);
  if (single) {
    std::vector<JsonRpcResponse> responses;
    responses.push_back(std::move(*single));
    return responses;
  }
  json value;
  try {
    value = parse_json(body);
  } catch (const JsonRpcError& e) {
    throw FramingError(std::string("reply is not valid JSON: ") + e.what());
  }
  std::vector<JsonRpcResponse> responses;
  responses.reserve(value.is_array() ? value.size() : 1);
  if (value.is_array()) {
    if (value.empty()) throw FramingError("reply is an empty array");
    for (json& element : value) responses.push_back(JsonRpcResponse::from_json(std::move(element)));
  } else {
    responses.push_back(JsonRpcResponse::from_json(std::move(value)));
  }
  return responses;
}

}  // namespace procslink
