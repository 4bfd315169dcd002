// The JSON-RPC 2.0 model: every rule of the specification that parse_request_body,
// JsonRpcRequest, JsonRpcResponse and ErrorObject apply, plus the hostile-input limits.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "../src/json_reader.hpp"
#include "../src/jsonrpc_text.hpp"
#include "procslink/jsonrpc.hpp"

namespace procslink {
namespace {

// The error reply a whole body earned; fails the test if the body was accepted instead.
JsonRpcResponse whole_body_error(std::string_view body) {
  ParsedRequestBody parsed = parse_request_body(body);
  EXPECT_TRUE(parsed.whole_body_error.has_value()) << body;
  EXPECT_TRUE(parsed.items.empty()) << body;
  if (!parsed.whole_body_error) return JsonRpcResponse::success(nullptr, nullptr);
  return *parsed.whole_body_error;
}

// The single request a body holds; fails the test if it was rejected.
JsonRpcRequest single_request(std::string_view body) {
  ParsedRequestBody parsed = parse_request_body(body);
  EXPECT_FALSE(parsed.whole_body_error.has_value()) << body;
  EXPECT_FALSE(parsed.batch);
  if (parsed.items.size() != 1 || !std::holds_alternative<JsonRpcRequest>(parsed.items[0].content)) {
    ADD_FAILURE() << "no single valid request in " << body;
    return {};
  }
  return std::get<JsonRpcRequest>(parsed.items[0].content);
}

void expect_error(const JsonRpcResponse& r, int code, const json& id) {
  ASSERT_TRUE(r.is_error());
  EXPECT_EQ(r.error().code, code);
  EXPECT_EQ(r.error().message, error_code::default_message(code));
  EXPECT_EQ(r.id, id);
}

// ---------------------------------------------------------------------------------------------
// Requests and notifications.

TEST(JsonRpcRequest, RequestWithIdIsNotANotification) {
  const auto r = single_request(R"({"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":1})");
  EXPECT_EQ(r.method, "subtract");
  EXPECT_EQ(r.params, json::array({42, 23}));
  EXPECT_EQ(r.id, json(1));
  EXPECT_FALSE(r.is_notification());
}

TEST(JsonRpcRequest, RequestWithoutIdIsANotification) {
  const auto r = single_request(R"({"jsonrpc":"2.0","method":"update","params":[1,2]})");
  EXPECT_TRUE(r.is_notification());
  EXPECT_FALSE(r.id.has_value());
}

TEST(JsonRpcRequest, NullIdIsARequestNotANotification) {
  const auto r = single_request(R"({"jsonrpc":"2.0","method":"m","id":null})");
  EXPECT_FALSE(r.is_notification());
  ASSERT_TRUE(r.id.has_value());
  EXPECT_TRUE(r.id->is_null());
}

TEST(JsonRpcRequest, AcceptsStringNumberAndNullIds) {
  for (const char* id : {R"("abc")", R"("")", "0", "-7", "18446744073709551615", "1.5", "null"}) {
    SCOPED_TRACE(id);
    const auto r = single_request(std::string(R"({"jsonrpc":"2.0","method":"m","id":)") + id + "}");
    EXPECT_EQ(r.id, json::parse(id));
  }
}

TEST(JsonRpcRequest, RejectsObjectArrayAndBoolIdsWithNullIdInReply) {
  for (const char* id : {R"({"a":1})", "[1]", "true", "false"}) {
    SCOPED_TRACE(id);
    const auto r = whole_body_error(std::string(R"({"jsonrpc":"2.0","method":"m","id":)") + id + "}");
    expect_error(r, error_code::invalid_request, nullptr);
  }
}

TEST(JsonRpcRequest, ParamsMayBeOmittedArrayOrObject) {
  EXPECT_FALSE(single_request(R"({"jsonrpc":"2.0","method":"m","id":1})").params.has_value());
  EXPECT_EQ(single_request(R"({"jsonrpc":"2.0","method":"m","params":[],"id":1})").params,
            json::array());
  EXPECT_EQ(single_request(R"({"jsonrpc":"2.0","method":"m","params":{"a":1},"id":1})").params,
            json({{"a", 1}}));
}

TEST(JsonRpcRequest, RejectsParamsThatAreNotArrayOrObject) {
  for (const char* params : {"1", R"("bar")", "null", "true"}) {
    SCOPED_TRACE(params);
    const auto r = whole_body_error(std::string(R"({"jsonrpc":"2.0","method":"m","id":4,"params":)") +
                                    params + "}");
    // The id was readable, so the reply can echo it.
    expect_error(r, error_code::invalid_request, 4);
  }
}

TEST(JsonRpcRequest, RequiresJsonrpcExactlyTwoPointZero) {
  for (const char* body : {R"({"method":"m","id":1})", R"({"jsonrpc":"1.0","method":"m","id":1})",
                           R"({"jsonrpc":2.0,"method":"m","id":1})",
                           R"({"jsonrpc":"2.0 ","method":"m","id":1})",
                           R"({"jsonrpc":null,"method":"m","id":1})"}) {
    SCOPED_TRACE(body);
    expect_error(whole_body_error(body), error_code::invalid_request, 1);
  }
}

TEST(JsonRpcRequest, RequiresMethodString) {
  for (const char* body : {R"({"jsonrpc":"2.0","id":"x"})", R"({"jsonrpc":"2.0","method":1,"id":"x"})",
                           R"({"jsonrpc":"2.0","method":null,"id":"x"})",
                           R"({"jsonrpc":"2.0","method":["m"],"id":"x"})"}) {
    SCOPED_TRACE(body);
    expect_error(whole_body_error(body), error_code::invalid_request, "x");
  }
}

TEST(JsonRpcRequest, InvalidNotificationStillEarnsAnErrorReply) {
  // The specification's own example: no id, yet the reply is owed (with id null).
  expect_error(whole_body_error(R"({"jsonrpc":"2.0","method":1,"params":"bar"})"),
               error_code::invalid_request, nullptr);
}

TEST(JsonRpcRequest, FromJsonReportsUsableIdOfInvalidRequest) {
  json id = "untouched";
  try {
    JsonRpcRequest::from_json(json::parse(R"({"jsonrpc":"1.0","method":"m","id":"abc"})"), &id);
    FAIL() << "expected JsonRpcError";
  } catch (const JsonRpcError& e) {
    EXPECT_EQ(e.code(), error_code::invalid_request);
  }
  EXPECT_EQ(id, "abc");
}

TEST(JsonRpcRequest, ToJsonOmitsAbsentIdAndParams) {
  const JsonRpcRequest notification{"update", std::nullopt, std::nullopt};
  EXPECT_EQ(notification.to_json(), json({{"jsonrpc", "2.0"}, {"method", "update"}}));
  const JsonRpcRequest null_id{"m", json::array({1}), json(nullptr)};
  const json j = null_id.to_json();
  ASSERT_TRUE(j.contains("id"));
  EXPECT_TRUE(j["id"].is_null());
  EXPECT_EQ(j["params"], json::array({1}));
}

TEST(JsonRpcRequest, ToJsonRoundTripsThroughFromJson) {
  const JsonRpcRequest original{"subtract", json({{"minuend", 42}}), json("id-1")};
  const JsonRpcRequest back = JsonRpcRequest::from_json(original.to_json());
  EXPECT_EQ(back.method, original.method);
  EXPECT_EQ(back.params, original.params);
  EXPECT_EQ(back.id, original.id);
}

// ---------------------------------------------------------------------------------------------
// Whole bodies: parse errors and batches.

TEST(RequestBody, ParseErrorHasNullId) {
  expect_error(whole_body_error(R"({"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz])"),
               error_code::parse_error, nullptr);
  expect_error(whole_body_error(""), error_code::parse_error, nullptr);
  expect_error(whole_body_error(R"({"jsonrpc":"2.0","method":"m","id":1} trailing)"),
               error_code::parse_error, nullptr);
}

TEST(RequestBody, ScalarBodyIsInvalidRequest) {
  for (const char* body : {"1", R"("text")", "null", "true"}) {
    SCOPED_TRACE(body);
    expect_error(whole_body_error(body), error_code::invalid_request, nullptr);
  }
}

TEST(RequestBody, EmptyBatchIsOneInvalidRequestNotAnArray) {
  const ParsedRequestBody parsed = parse_request_body("[]");
  EXPECT_FALSE(parsed.batch);
  ASSERT_TRUE(parsed.whole_body_error);
  expect_error(*parsed.whole_body_error, error_code::invalid_request, nullptr);
  const auto text = serialize_replies(parsed.batch, {*parsed.whole_body_error});
  ASSERT_TRUE(text);
  EXPECT_TRUE(json::parse(*text).is_object());
}

TEST(RequestBody, BatchOfInvalidElementsGivesOneErrorEach) {
  const ParsedRequestBody parsed = parse_request_body("[1,2,3]");
  EXPECT_TRUE(parsed.batch);
  EXPECT_FALSE(parsed.whole_body_error);
  ASSERT_EQ(parsed.items.size(), 3u);
  std::vector<JsonRpcResponse> replies;
  for (const auto& item : parsed.items) {
    ASSERT_TRUE(std::holds_alternative<JsonRpcResponse>(item.content));
    replies.push_back(std::get<JsonRpcResponse>(item.content));
    expect_error(replies.back(), error_code::invalid_request, nullptr);
  }
  const auto text = serialize_replies(parsed.batch, replies);
  ASSERT_TRUE(text);
  const json array = json::parse(*text);
  ASSERT_TRUE(array.is_array());
  EXPECT_EQ(array.size(), 3u);
}

TEST(RequestBody, SingleElementInvalidBatchIsStillABatch) {
  const ParsedRequestBody parsed = parse_request_body("[1]");
  EXPECT_TRUE(parsed.batch);
  ASSERT_EQ(parsed.items.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<JsonRpcResponse>(parsed.items[0].content));
  const auto text = serialize_replies(true, {std::get<JsonRpcResponse>(parsed.items[0].content)});
  ASSERT_TRUE(text);
  EXPECT_TRUE(json::parse(*text).is_array());
}

TEST(RequestBody, MixedBatchKeepsEachElementsOutcomeInOrder) {
  const ParsedRequestBody parsed = parse_request_body(R"([
    {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
    {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
    {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
    {"foo": "boo"},
    {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
    {"jsonrpc": "2.0", "method": "get_data", "id": "9"},
    {"jsonrpc": "2.0", "method": "m", "id": {"bad": 1}}
  ])");
  EXPECT_TRUE(parsed.batch);
  EXPECT_FALSE(parsed.whole_body_error);
  ASSERT_EQ(parsed.items.size(), 7u);
  auto request = [&](std::size_t i) { return std::get<JsonRpcRequest>(parsed.items.at(i).content); };
  auto error = [&](std::size_t i) { return std::get<JsonRpcResponse>(parsed.items.at(i).content); };
  EXPECT_EQ(request(0).method, "sum");
  EXPECT_EQ(request(0).id, json("1"));
  EXPECT_TRUE(request(1).is_notification());
  EXPECT_EQ(request(2).params, json::array({42, 23}));
  expect_error(error(3), error_code::invalid_request, nullptr);
  EXPECT_EQ(request(4).method, "foo.get");
  EXPECT_EQ(request(5).id, json("9"));
  expect_error(error(6), error_code::invalid_request, nullptr);
}

TEST(RequestBody, NestedArrayInsideBatchIsAnInvalidElement) {
  const ParsedRequestBody parsed = parse_request_body(R"([[{"jsonrpc":"2.0","method":"m","id":1}]])");
  EXPECT_TRUE(parsed.batch);
  ASSERT_EQ(parsed.items.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<JsonRpcResponse>(parsed.items[0].content));
  expect_error(std::get<JsonRpcResponse>(parsed.items[0].content), error_code::invalid_request,
               nullptr);
}

TEST(RequestBody, AllNotificationBatchOwesNoReply) {
  const ParsedRequestBody parsed = parse_request_body(
      R"([{"jsonrpc":"2.0","method":"notify_sum","params":[1,2,4]},
          {"jsonrpc":"2.0","method":"notify_hello","params":[7]}])");
  EXPECT_TRUE(parsed.batch);
  ASSERT_EQ(parsed.items.size(), 2u);
  for (const auto& item : parsed.items) {
    ASSERT_TRUE(std::holds_alternative<JsonRpcRequest>(item.content));
    EXPECT_TRUE(std::get<JsonRpcRequest>(item.content).is_notification());
  }
  EXPECT_EQ(serialize_replies(true, {}), std::nullopt);
  EXPECT_EQ(serialize_replies(false, {}), std::nullopt);
}

TEST(SerializeReplies, SingleReplyIsAnObjectAndBatchAnArray) {
  const auto one = JsonRpcResponse::success(1, 19);
  const auto single = serialize_replies(false, {one});
  ASSERT_TRUE(single);
  EXPECT_EQ(json::parse(*single), json({{"jsonrpc", "2.0"}, {"id", 1}, {"result", 19}}));
  const auto batch = serialize_replies(true, {one, JsonRpcResponse::success("b", nullptr)});
  ASSERT_TRUE(batch);
  const json array = json::parse(*batch);
  ASSERT_EQ(array.size(), 2u);
  EXPECT_EQ(array[1], json({{"jsonrpc", "2.0"}, {"id", "b"}, {"result", nullptr}}));
}

// ---------------------------------------------------------------------------------------------
// Hostile input: depth and encoding.

TEST(ParseJson, DeepArrayNestingIsAParseErrorNotACrash) {
  const std::string body(100000, '[');
  expect_error(whole_body_error(body), error_code::parse_error, nullptr);
  EXPECT_THROW(parse_json(body), JsonRpcError);
}

TEST(ParseJson, DeepObjectNestingIsAParseErrorNotACrash) {
  std::string body;
  for (int i = 0; i < 100000; ++i) body += R"({"a":)";
  expect_error(whole_body_error(body), error_code::parse_error, nullptr);
}

TEST(ParseJson, DeepButBalancedNestingIsRejected) {
  const std::string body = std::string(100000, '[') + std::string(100000, ']');
  expect_error(whole_body_error(body), error_code::parse_error, nullptr);
}

TEST(ParseJson, LeadingClosersCannotBuyExtraDepth) {
  const std::string body = std::string(1000, ']') + std::string(100000, '[');
  expect_error(whole_body_error(body), error_code::parse_error, nullptr);
}

TEST(ParseJson, AcceptsNestingUpToTheLimit) {
  const std::string at_limit =
      std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  EXPECT_NO_THROW(parse_json(at_limit));
  const std::string over =
      std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']');
  EXPECT_THROW(parse_json(over), JsonRpcError);
}

TEST(ParseJson, BracketsInsideStringsDoNotCountAsNesting) {
  const std::string many(100000, '[');
  const json value = parse_json("[\"" + many + "\", \"\\\"" + many + "\"]");
  ASSERT_TRUE(value.is_array());
  EXPECT_EQ(value[0].get<std::string>().size(), many.size());
  EXPECT_EQ(value[1].get<std::string>().size(), many.size() + 1);
}

TEST(ParseJson, InvalidUtf8IsAParseError) {
  const std::string body = "{\"jsonrpc\":\"2.0\",\"method\":\"\xff\xfe\",\"id\":1}";
  expect_error(whole_body_error(body), error_code::parse_error, nullptr);
  // An overlong encoding of '/' and a lone surrogate encoded in UTF-8.
  expect_error(whole_body_error("[\"\xc0\xaf\"]"), error_code::parse_error, nullptr);
  expect_error(whole_body_error("[\"\xed\xa0\x80\"]"), error_code::parse_error, nullptr);
}

TEST(ParseJson, AcceptsValidMultibyteUtf8) {
  const json value = parse_json("[\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"]");
  EXPECT_EQ(value[0].get<std::string>(), "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
}

TEST(ToText, RepairsInvalidUtf8InsteadOfThrowing) {
  const json value = {{"raw", std::string("a\xff" "b")}};
  std::string text;
  ASSERT_NO_THROW(text = to_text(value));
  EXPECT_NE(text.find("a\xef\xbf\xbd" "b"), std::string::npos) << text;  // U+FFFD
  EXPECT_EQ(parse_json(text)["raw"], "a\xef\xbf\xbd" "b");
}

// A single request object is read member by member, without building the object; a batch
// element goes through the general path. Both must reach the same verdict.
TEST(RequestBody, SingleObjectAgreesWithTheSameObjectInABatch) {
  const std::vector<std::string> bodies = {
      R"({"jsonrpc":"2.0","method":"m","params":[1,2],"id":1})",
      R"({"jsonrpc":"2.0","method":"m","params":{"a":1},"id":"x"})",
      R"({"jsonrpc":"2.0","method":"m"})",
      R"({"jsonrpc":"2.0","method":"m","id":null})",
      R"( {"id":7,"method":"m","jsonrpc":"2.0","extra":[1,{"b":2}]} )",
      R"({"jsonrpc":"2.0","method":"first","method":"second","id":2})",
      R"({"jsonrpc":"1.0","method":"m","id":3})",
      R"({"jsonrpc":"2.0","method":5,"id":4})",
      R"({"jsonrpc":"2.0","method":"m","params":"no","id":5})",
      R"({"jsonrpc":"2.0","method":"m","id":{"bad":1}})",
      R"({"jsonrpc":"2.0","id":6})",
      R"({})",
      R"({"method":"m","id":8})",
      // "jsonrpc" and "method" strings are read as text, other values as json: repeated keys
      // mixing the two forms still leave the last one standing.
      R"({"jsonrpc":"2.0","method":5,"method":"m","id":9})",
      R"({"jsonrpc":"2.0","method":"m","method":5,"id":10})",
      R"({"jsonrpc":2,"jsonrpc":"2.0","method":"m","id":11})",
      R"({"jsonrpc":"2.0","jsonrpc":2,"method":"m","id":12})",
      R"({"jsonrpc":"2.0","jsonrpc":"2.0 ","method":"m","id":13})",
      R"({"jsonrpc":"2\u002e0","method":"\u006d\n\"","id":14})",
      R"({"jsonrp\u0063":"2.0","m\u0065thod":"m","id":15})",
      R"({"jsonrpc":null,"method":null,"id":16})",
      // The layout peers write, read by matching its bytes (read_request_layout), and texts
      // that only almost have it: each must get the general path's verdict.
      R"({"jsonrpc":"2.0","method":"m","params":[{"k":"v"},-1.5e3,null],"id":-17})",
      R"({"jsonrpc":"2.0","method":"m","params":{},"id":"eighteen"})",
      R"({"jsonrpc":"2.0","method":"m","params":[]})",
      R"({"jsonrpc":"2.0","method":"m","id":18446744073709551615})",
      R"({"jsonrpc":"2.0","method":"m","id":0.5})",
      R"({"jsonrpc":"2.0","method":"","id":19})",
      R"({"jsonrpc":"2.0","method":"café","id":20})",
      "{\"jsonrpc\":\"2.0\",\"method\":\"caf\xC3\xA9\",\"id\":21}",
      R"({"jsonrpc":"2.0","method":"m","params":[1],"id":23,"id":24})",
      R"({"jsonrpc":"2.0","method":"m","params":[1],"params":{"a":1},"id":25})",
      R"({"jsonrpc":"2.0","method":"m","id":26,"params":[1]})",
      R"({"jsonrpc":"2.0","method":"m","params":7,"id":27})",
      R"({"jsonrpc":"2.0","method":"m","params":[1],"id":[28]})",
      R"({"jsonrpc":"2.0","method":"m","params":[1],"id":true})",
      R"({"jsonrpc":"2.0","method":"m","params":[1],"id":29}   )",
      R"({"jsonrpc":"2.0","method":"m", "params":[1],"id":31})",
      R"({"jsonrpc":"2.0","method":"m","params":[1 ],"id":32})",
  };
  for (const auto& body : bodies) {
    SCOPED_TRACE(body);
    const ParsedRequestBody single = parse_request_body(body);
    ParsedRequestBody batch = parse_request_body("[" + body + "]");
    ASSERT_FALSE(batch.whole_body_error);
    ASSERT_EQ(batch.items.size(), 1u);
    EXPECT_FALSE(single.batch);
    if (auto* request = std::get_if<JsonRpcRequest>(&batch.items[0].content)) {
      ASSERT_FALSE(single.whole_body_error);
      ASSERT_EQ(single.items.size(), 1u);
      const auto& got = std::get<JsonRpcRequest>(single.items[0].content);
      EXPECT_EQ(got.method, request->method);
      EXPECT_EQ(got.params, request->params);
      EXPECT_EQ(got.id, request->id);
    } else {
      ASSERT_TRUE(single.whole_body_error);
      EXPECT_TRUE(single.items.empty());
      const auto& expected = std::get<JsonRpcResponse>(batch.items[0].content);
      EXPECT_EQ(single.whole_body_error->id, expected.id);
      EXPECT_EQ(single.whole_body_error->error(), expected.error());
    }
  }
}

TEST(RequestBody, SingleObjectWithTrailingGarbageIsAParseError) {
  for (const std::string body : {R"({"jsonrpc":"2.0","method":"m","id":1} x)",
                                 R"({"jsonrpc":"2.0","method":"m","id":1)",
                                 R"({"jsonrpc":"2.0","method":"m","id":1}})",
                                 R"({"jsonrpc":"2.0","method":"m","params":[1],"id":1)",
                                 R"({"jsonrpc":"2.0","method":"m","params":[1,"id":1})",
                                 "{\"jsonrpc\":\"2.0\",\"method\":\"tab\there\",\"id\":1}"}) {
    SCOPED_TRACE(body);
    const ParsedRequestBody parsed = parse_request_body(body);
    ASSERT_TRUE(parsed.whole_body_error);
    EXPECT_EQ(parsed.whole_body_error->error().code, error_code::parse_error);
    EXPECT_TRUE(parsed.whole_body_error->id.is_null());
  }
}

// What a peer writes is read by matching the layout (the tests above check that this agrees
// with the general path); anything else is left to the general path.
TEST(Layout, WhatPeersWriteIsReadByItsLayout) {
  const json id = 41;
  for (const json& params : {json::array({"a", 1}), json::object({{"k", {1, 2}}}), json()}) {
    const json* p = params.is_null() ? nullptr : &params;
    for (const json* i : {&id, static_cast<const json*>(nullptr)}) {
      const std::string text = JsonRpcRequest::serialize("some.method", p, i);
      SCOPED_TRACE(text);
      JsonRpcRequest request;
      ASSERT_TRUE(detail::read_request_layout(text, request));
      EXPECT_EQ(request.method, "some.method");
      EXPECT_EQ(request.params, p ? std::optional<json>(*p) : std::nullopt);
      EXPECT_EQ(request.id, i ? std::optional<json>(*i) : std::nullopt);
    }
  }
  const std::string reply = JsonRpcResponse::success("x", json::array({1, "b"})).serialize();
  std::optional<JsonRpcResponse> response;
  ASSERT_TRUE(detail::read_success_layout(reply, response));
  EXPECT_EQ(response->id, json("x"));
  EXPECT_EQ(response->result(), json::array({1, "b"}));

  for (const std::string other : {R"({"jsonrpc": "2.0","method":"m","id":1})",
                                  R"({"method":"m","jsonrpc":"2.0","id":1})",
                                  R"({"jsonrpc":"2.0","method":"\u006d","id":1})",
                                  R"({"jsonrpc":"2.0","method":"m","params":3,"id":1})",
                                  R"({"jsonrpc":"2.0","method":"m","id":1,"id":2})",
                                  R"({"jsonrpc":"2.0","method":"m","id":1} x)"}) {
    JsonRpcRequest request;
    EXPECT_FALSE(detail::read_request_layout(other, request)) << other;
  }
  for (const std::string other : {R"({"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m"}})",
                                  R"({"jsonrpc":"2.0","result":1,"id":1})",
                                  R"({"jsonrpc":"2.0","id":1,"result":1,"result":2})"}) {
    std::optional<JsonRpcResponse> got;
    EXPECT_FALSE(detail::read_success_layout(other, got)) << other;
  }
}

// A plain integer id is read without the JSON reader: it must come out exactly as the reader
// makes it (an unsigned number for a non-negative integer), and anything less plain must be
// left to the reader, which decides.
TEST(Layout, IdsAreReadAsTheReaderReadsThem) {
  for (const std::string id : {"0", "7", "41", "123456789012345678", "1234567890123456789",
                               "18446744073709551615", "18446744073709551616", "-3", "-0", "00",
                               "01", "1.5", "2e3", "\"s\"", "null", "true"}) {
    const std::string text = R"({"jsonrpc":"2.0","method":"m","params":[1],"id":)" + id + "}";
    SCOPED_TRACE(text);
    JsonRpcRequest request;
    const bool layout = detail::read_request_layout(text, request);
    std::size_t pos = 0;
    json expected;
    bool valid = true;
    try {
      expected = detail::read_json_value(id, pos, 10);
    } catch (const detail::JsonSyntaxError&) {
      valid = false;
    }
    valid = valid && detail::json_ends_at(id, pos) &&
            (expected.is_number() || expected.is_string() || expected.is_null());
    ASSERT_EQ(layout, valid);
    if (layout) {
      ASSERT_TRUE(request.id.has_value());
      EXPECT_EQ(request.id->type(), expected.type());
      EXPECT_EQ(*request.id, expected);
    }
  }
}

// A spare array is read into when the params are an array (and only then), elements replaced.
TEST(Layout, ArrayParamsAreReadIntoTheSpareArray) {
  json spare = json::array({"stale", "elements", 3});
  const auto* storage = spare.get_ref<const json::array_t&>().data();
  JsonRpcRequest request;
  ASSERT_TRUE(detail::read_request_layout(R"({"jsonrpc":"2.0","method":"m","params":["x"],"id":1})",
                                          request, &spare));
  EXPECT_EQ(request.params, json::array({"x"}));
  EXPECT_EQ(request.params->get_ref<const json::array_t&>().data(), storage);
  EXPECT_TRUE(spare.is_null());  // moved into the request

  for (const std::string text : {R"({"jsonrpc":"2.0","method":"m","params":{"a":[1]},"id":1})",
                                 R"({"jsonrpc":"2.0","method":"m","id":1})"}) {
    json other = json::array({"kept"});
    JsonRpcRequest r;
    ASSERT_TRUE(detail::read_request_layout(text, r, &other)) << text;
    EXPECT_EQ(other, json::array({"kept"})) << text;
    EXPECT_EQ(r.params, text.find("params") != std::string::npos
                            ? std::optional<json>(json::object({{"a", {1}}}))
                            : std::nullopt);
  }
  json empty = json::array();
  JsonRpcRequest r;
  ASSERT_TRUE(detail::read_request_layout(R"({"jsonrpc":"2.0","method":"m","params":[],"id":1})",
                                          r, &empty));
  EXPECT_EQ(r.params, json::array());
}

// Like nlohmann, the reader takes a NUL byte after the value as the end of the text.
TEST(RequestBody, ANulByteAfterTheObjectEndsTheText) {
  const std::string request = R"({"jsonrpc":"2.0","method":"m","params":[1],"id":30})";
  const JsonRpcRequest got = single_request(request + '\0' + "junk");
  EXPECT_EQ(got.method, "m");
  EXPECT_EQ(got.params, json::array({1}));
  EXPECT_EQ(got.id, json(30));
  const std::string response = R"({"jsonrpc":"2.0","id":13,"result":14})";
  const auto responses = parse_response_body(response + '\0' + "[");
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].to_json(), parse_response_body(response)[0].to_json());
}

TEST(ResponseBody, SingleObjectAgreesWithTheSameObjectInABatch) {
  const std::vector<std::string> bodies = {
      R"({"jsonrpc":"2.0","id":1,"result":[1,"a",{"b":null}]})",
      R"({"jsonrpc":"2.0","id":"x","error":{"code":-32601,"message":"Method not found"}})",
      R"({"result":null,"id":null,"jsonrpc":"2.0","other":1})",
      R"({"jsonrpc":"2.0","id":1,"result":1,"result":2})",
      R"({"jsonrpc":1,"jsonrpc":"2.0","id":1,"result":1})",
      R"({"jsonrpc":"2\u002e0","id":1,"result":1})",
      // The layout peers write (read_success_layout), and near misses.
      R"({"jsonrpc":"2.0","id":2,"result":{"a":[1,2,{"b":"c"}]}})",
      R"({"jsonrpc":"2.0","id":"s","result":null})",
      R"({"jsonrpc":"2.0","id":null,"result":"x"})",
      R"({"jsonrpc":"2.0","id":3,"result":4,"result":5})",
      R"({"jsonrpc":"2.0","id":6,"result":7,"id":8})",
      R"({"jsonrpc":"2.0","id":9,"result":10}  )",
      R"({"jsonrpc":"2.0","id":11 ,"result":12})",
  };
  for (const auto& body : bodies) {
    SCOPED_TRACE(body);
    const auto single = parse_response_body(body);
    const auto batch = parse_response_body("[" + body + "]");
    ASSERT_EQ(single.size(), 1u);
    ASSERT_EQ(batch.size(), 1u);
    EXPECT_EQ(single[0].id, batch[0].id);
    EXPECT_EQ(single[0].to_json(), batch[0].to_json());
  }
  for (const std::string bad : {R"({"jsonrpc":"2.0","id":1})",
                                R"({"jsonrpc":"2.0","id":1,"result":1,"error":{}})",
                                R"({"jsonrpc":"2.0","id":[],"result":1})",
                                R"({"id":1,"result":1})", R"({"jsonrpc":"2.0","id":1,"result":1} [)",
                                R"({"jsonrpc":"2.0","jsonrpc":2,"id":1,"result":1})",
                                R"({"jsonrpc":"2.0","id":{},"result":1})",
                                R"({"jsonrpc":"2.0","id":1,"result":1)",
                                R"({"jsonrpc":"2.0","id":1,"result":[1})",
                                R"({"jsonrpc":"2.0","id":1,"result":1}})"}) {
    SCOPED_TRACE(bad);
    EXPECT_THROW(parse_response_body(bad), FramingError);
    EXPECT_THROW(parse_response_body("[" + bad + "]"), FramingError);
  }
}

TEST(ToText, IsCompact) {
  EXPECT_EQ(to_text(json({{"a", json::array({1, 2})}})), R"({"a":[1,2]})");
}

// ---------------------------------------------------------------------------------------------
// Responses as a client reads them.

TEST(ResponseBody, ParsesResultAndError) {
  const auto ok = parse_response_body(R"({"jsonrpc":"2.0","result":19,"id":1})");
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_FALSE(ok[0].is_error());
  EXPECT_EQ(ok[0].result(), 19);
  const auto err = parse_response_body(
      R"({"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":"1"})");
  ASSERT_EQ(err.size(), 1u);
  ASSERT_TRUE(err[0].is_error());
  EXPECT_EQ(err[0].error().code, -32601);
  EXPECT_EQ(err[0].id, "1");
}

TEST(ResponseBody, NullResultIsAResult) {
  const auto r = parse_response_body(R"({"jsonrpc":"2.0","result":null,"id":1})");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].is_error());
  EXPECT_TRUE(r[0].result().is_null());
}

TEST(ResponseBody, RequiresExactlyOneOfResultAndError) {
  EXPECT_THROW(parse_response_body(R"({"jsonrpc":"2.0","id":1})"), FramingError);
  EXPECT_THROW(parse_response_body(
                   R"({"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"m"}})"),
               FramingError);
}

TEST(ResponseBody, RequiresJsonrpcAndValidId) {
  EXPECT_THROW(parse_response_body(R"({"result":1,"id":1})"), FramingError);
  EXPECT_THROW(parse_response_body(R"({"jsonrpc":"1.0","result":1,"id":1})"), FramingError);
  EXPECT_THROW(parse_response_body(R"({"jsonrpc":"2.0","result":1})"), FramingError);
  EXPECT_THROW(parse_response_body(R"({"jsonrpc":"2.0","result":1,"id":{"a":1}})"), FramingError);
  EXPECT_THROW(parse_response_body(R"({"jsonrpc":"2.0","result":1,"id":true})"), FramingError);
}

TEST(ResponseBody, ValidatesTheErrorObject) {
  for (const char* error :
       {R"("oops")", "null", "[]", R"({"message":"m"})", R"({"code":-1})",
        R"({"code":"-1","message":"m"})", R"({"code":1.5,"message":"m"})",
        R"({"code":-1,"message":7})"}) {
    SCOPED_TRACE(error);
    EXPECT_THROW(parse_response_body(std::string(R"({"jsonrpc":"2.0","id":1,"error":)") + error + "}"),
                 FramingError);
  }
}

TEST(ResponseBody, RejectsNonJsonEmptyArrayAndScalars) {
  EXPECT_THROW(parse_response_body("not json"), FramingError);
  EXPECT_THROW(parse_response_body("[]"), FramingError);
  EXPECT_THROW(parse_response_body("1"), FramingError);
  EXPECT_THROW(parse_response_body("[1]"), FramingError);
  EXPECT_THROW(parse_response_body(std::string(100000, '[')), FramingError);
}

TEST(ResponseBody, ParsesBatchOfResponses) {
  const auto r = parse_response_body(
      R"([{"jsonrpc":"2.0","result":7,"id":"1"},
          {"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":null}])");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].result(), 7);
  EXPECT_TRUE(r[1].id.is_null());
  EXPECT_EQ(r[1].error().code, error_code::invalid_request);
}

TEST(JsonRpcResponse, ToJsonRoundTrips) {
  const auto ok = JsonRpcResponse::success("x", json::array({"hello", 5}));
  EXPECT_EQ(ok.to_json(),
            json({{"jsonrpc", "2.0"}, {"id", "x"}, {"result", json::array({"hello", 5})}}));
  const auto back = JsonRpcResponse::from_json(ok.to_json());
  EXPECT_EQ(back.id, "x");
  EXPECT_EQ(back.result(), ok.result());
  const auto err = JsonRpcResponse::failure(nullptr, {-32000, "boom", json(nullptr)});
  const auto err_back = JsonRpcResponse::from_json(err.to_json());
  EXPECT_EQ(err_back.error(), err.error());
}

// ---------------------------------------------------------------------------------------------
// ErrorObject and JsonRpcError.

TEST(ErrorObject, AbsentDataIsNotNullData) {
  const ErrorObject absent{-32000, "m", std::nullopt};
  const ErrorObject null_data{-32000, "m", json(nullptr)};
  EXPECT_FALSE(absent.to_json().contains("data"));
  ASSERT_TRUE(null_data.to_json().contains("data"));
  EXPECT_TRUE(null_data.to_json()["data"].is_null());
  EXPECT_NE(absent, null_data);
  const ErrorObject parsed_absent = ErrorObject::from_json(json::parse(R"({"code":-32000,"message":"m"})"));
  const ErrorObject parsed_null =
      ErrorObject::from_json(json::parse(R"({"code":-32000,"message":"m","data":null})"));
  EXPECT_EQ(parsed_absent, absent);
  EXPECT_EQ(parsed_null, null_data);
}

TEST(ErrorObject, RoundTripsStructuredData) {
  const ErrorObject e{-32602, "Invalid params", json({{"field", "x"}, {"allowed", {1, 2}}})};
  EXPECT_EQ(ErrorObject::from_json(e.to_json()), e);
}

TEST(JsonRpcError, CarriesCodeMessageAndData) {
  const JsonRpcError e(-32001, "Access denied", json({{"uid", 1000}}));
  EXPECT_EQ(e.code(), -32001);
  EXPECT_EQ(e.message(), "Access denied");
  ASSERT_TRUE(e.data());
  EXPECT_EQ(*e.data(), json({{"uid", 1000}}));
  EXPECT_EQ(e.error(), (ErrorObject{-32001, "Access denied", json({{"uid", 1000}})}));
  const std::string what = e.what();
  EXPECT_NE(what.find("Access denied"), std::string::npos) << what;
  EXPECT_NE(what.find("-32001"), std::string::npos) << what;
}

TEST(JsonRpcError, WithoutDataHasNoData) {
  const JsonRpcError e(error_code::method_not_found, "Method not found");
  EXPECT_FALSE(e.data().has_value());
  const Error& base = e;  // catchable as the library's base exception
  EXPECT_NE(std::string(base.what()).find("Method not found"), std::string::npos);
}

TEST(JsonRpcError, WhatSurvivesInvalidUtf8Data) {
  std::string what;
  ASSERT_NO_THROW(what = JsonRpcError(-32000, "m", json::array({std::string("\xff")})).what());
  EXPECT_NE(what.find("\xef\xbf\xbd"), std::string::npos);
}

// A leading caller reads its own reply with read_result_layout: only that id, in the layout
// peers write; the result read as any reader reads it; anything else left to the others.
TEST(ResultLayout, TakesOnlyTheReplyToThatIdInTheUsualLayout) {
  const json results[] = {"text \"q\" \u00e9", 5, -1.5, nullptr, json::array({1, {{"k", "v"}}}),
                          json::object()};
  for (const std::int64_t id : {1L, 5L, 9007199254740993L}) {
    for (const json& value : results) {
      const std::string reply = JsonRpcResponse::success(id, value).serialize();
      json got = "untouched";
      ASSERT_TRUE(detail::read_result_layout(reply, id, got)) << reply;
      EXPECT_EQ(got, value) << reply;
      // Another call's id, however alike, is not this call's.
      for (const std::int64_t other : {id + 1, id * 10, id / 10}) {
        json untouched = "untouched";
        EXPECT_FALSE(detail::read_result_layout(reply, other, untouched)) << reply << " " << other;
        EXPECT_EQ(untouched, "untouched");
      }
    }
  }
  for (const std::string other :
       {R"({"jsonrpc":"2.0","id":"5","result":1})", R"({"jsonrpc":"2.0","id":5.0,"result":1})",
        R"({"jsonrpc":"2.0","id":5, "result":1})", R"({"jsonrpc":"2.0","result":1,"id":5})",
        R"({"jsonrpc":"2.0","id":5,"error":{"code":1,"message":"m"}})",
        R"({"jsonrpc":"2.0","id":5,"result":1} x)", R"({"jsonrpc":"2.0","id":5,"result":1)",
        R"({"jsonrpc":"2.0","id":5,"result":[1,})", R"([{"jsonrpc":"2.0","id":5,"result":1}])"}) {
    json untouched = "untouched";
    EXPECT_FALSE(detail::read_result_layout(other, 5, untouched)) << other;
    EXPECT_EQ(untouched, "untouched") << other;
  }
  json got;
  EXPECT_TRUE(detail::read_result_layout(R"({"jsonrpc":"2.0","id":5,"result":1} )", 5, got));
}

// A body split where string_running_on says its first fragment ends inside a string (the
// usual layouts matched, any other read) reads as the whole body does, request and reply.
std::string as_text(const std::optional<ParsedRequestBody::Item>& item) {
  if (!item) return "none";
  if (const auto* request = std::get_if<JsonRpcRequest>(&item->content)) return request->to_json().dump();
  return std::get<JsonRpcResponse>(item->content).to_json().dump();
}
std::string as_text(const std::optional<JsonRpcResponse>& reply) {
  return reply ? reply->to_json().dump() : "none";
}
std::string reply_of(std::string_view body, detail::OwnedBody* owned) {
  try {
    return as_text(owned ? detail::parse_single_response_taking(*owned)
                         : detail::parse_single_response(body));
  } catch (const FramingError& e) {
    return e.what();
  }
}

TEST(SplitBody, ReadsAsTheWholeBodyWherePeersLayoutsAndOthersAreSplit) {
  const std::string clean(300, 'c');
  const std::string strings[] = {clean, clean + "\xE2\x82\xAC" + clean, clean + "\\n" + clean,
                                 clean + "\xC3(" + clean, clean + "\x01" + clean};
  int splits = 0;
  for (const std::string& string : strings) {
    const std::string bodies[] = {
        R"({"jsonrpc":"2.0","method":"echo","params":[")" + string + R"("],"id":7})",
        R"({"jsonrpc":"2.0","id":7,"result":")" + string + R"("})",
        R"({"jsonrpc":"2.0","id":-3,"result":")" + string + R"("})",
        R"({"id":"x","jsonrpc":"2.0","result":")" + string + R"(","more":1})",
        R"({"method":"m\u0041","jsonrpc":"2.0","params":{"k":")" + string + R"("}})",
        R"({"jsonrpc":"2.0","id":07,"result":")" + string + R"("})",
    };
    for (const std::string& body : bodies) {
      SCOPED_TRACE(body.substr(0, 60));
      const bool request = body.find("params") != std::string::npos;
      const std::string whole = request ? as_text(detail::parse_single_request(body))
                                        : reply_of(body, nullptr);
      for (std::size_t prefix = 1; prefix < body.size(); prefix += 5) {
        const auto open = detail::string_running_on(std::string_view(body).substr(0, prefix));
        if (!open) continue;
        ++splits;
        SCOPED_TRACE(prefix);
        std::string rest = body.substr(open->content);
        ASSERT_EQ(detail::clean_prefix(rest, 0, open->clean), open->clean);
        detail::OwnedBody owned(rest, std::string_view(body).substr(0, open->content), open->clean);
        EXPECT_EQ(request ? as_text(detail::parse_single_request_taking(owned))
                          : reply_of(rest, &owned),
                  whole);
      }
    }
  }
  EXPECT_GT(splits, 500);
  // A body the readers would not take as an object from its head (a byte order mark first,
  // which the JSON reader skips) is never split: the general readers would get the rest only.
  const std::string marked = "\xEF\xBB\xBF" R"({"jsonrpc":"2.0","method":"echo","params":[")" + clean;
  for (std::size_t prefix = 1; prefix <= marked.size(); prefix += 7) {
    EXPECT_FALSE(detail::string_running_on(std::string_view(marked).substr(0, prefix)));
  }
}

TEST(ErrorCodes, DefaultMessagesMatchTheSpecification) {
  EXPECT_STREQ(error_code::default_message(-32700), "Parse error");
  EXPECT_STREQ(error_code::default_message(-32600), "Invalid Request");
  EXPECT_STREQ(error_code::default_message(-32601), "Method not found");
  EXPECT_STREQ(error_code::default_message(-32602), "Invalid params");
  EXPECT_STREQ(error_code::default_message(-32603), "Internal error");
  EXPECT_STREQ(error_code::default_message(-32050), "Server error");
}

}  // namespace
}  // namespace procslink
