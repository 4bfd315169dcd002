// simdjson_to_nlohmann.hpp - nlohmann::json values built from simdjson's parse, for
// json_text_bench.cpp: the work a peer reading its JSON text with simdjson would do.
//
// The values come out as nlohmann::json::parse and procslink's reader make them: an integer
// without fraction or exponent is unsigned when >= 0 and signed when < 0, anything else a
// double; a repeated key keeps its last value. Errors are simdjson's exceptions
// (simdjson_error). Both of simdjson's interfaces: On-Demand (ondemand::value, walked once, in
// document order) and the DOM (dom::element, a tape built first).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>
#include <simdjson.h>

namespace procslink::bench::simdjson_convert {

using json = nlohmann::json;

// A string value, allocated once at its length.
inline json string_value(std::string_view text) {
  json value(json::value_t::string);
  value.get_ref<json::string_t&>().assign(text);
  return value;
}

// An integer as nlohmann types it: signed only when negative.
inline json integer_value(std::int64_t number) {
  if (number >= 0) return json(static_cast<json::number_unsigned_t>(number));
  return json(static_cast<json::number_integer_t>(number));
}

// The last value of a repeated key wins; keys arriving in order cost one comparison each.
inline void put_member(json::object_t& members, std::string_view key, json&& value) {
  members.emplace_hint(members.end(), std::string(key), nullptr)->second = std::move(value);
}

// ---- On-Demand ----

json from_ondemand(simdjson::ondemand::value value);

inline json number_from_ondemand(simdjson::ondemand::value value) {
  switch (value.get_number_type()) {
    case simdjson::ondemand::number_type::unsigned_integer:
      return json(static_cast<json::number_unsigned_t>(value.get_uint64()));
    case simdjson::ondemand::number_type::signed_integer:
      return integer_value(value.get_int64());
    default: return json(static_cast<double>(value.get_double()));
  }
}

inline json from_ondemand(simdjson::ondemand::object object) {
  json result(json::value_t::object);
  auto& members = result.get_ref<json::object_t&>();
  for (simdjson::ondemand::field field : object) {
    const std::string_view key = field.unescaped_key();
    put_member(members, key, from_ondemand(field.value()));
  }
  return result;
}

inline json from_ondemand(simdjson::ondemand::array array) {
  json result(json::value_t::array);
  auto& elements = result.get_ref<json::array_t&>();
  for (simdjson::ondemand::value element : array) elements.push_back(from_ondemand(element));
  return result;
}

inline json from_ondemand(simdjson::ondemand::value value) {
  switch (value.type()) {
    case simdjson::ondemand::json_type::object: return from_ondemand(value.get_object().value());
    case simdjson::ondemand::json_type::array: return from_ondemand(value.get_array().value());
    case simdjson::ondemand::json_type::string: return string_value(value.get_string());
    case simdjson::ondemand::json_type::number: return number_from_ondemand(value);
    case simdjson::ondemand::json_type::boolean: return json(static_cast<bool>(value.get_bool()));
    case simdjson::ondemand::json_type::null:
      if (!value.is_null()) throw simdjson::simdjson_error(simdjson::INCORRECT_TYPE);
      return json(nullptr);
  }
  throw simdjson::simdjson_error(simdjson::INCORRECT_TYPE);
}

// Whether the document was read to its end (simdjson 3.0's On-Demand documents have no
// at_end(): past the last token, there is no current location).
inline bool at_end(simdjson::ondemand::document& document) {
  return document.current_location().error() == simdjson::OUT_OF_BOUNDS;
}

// A whole document (a scalar one too), refusing anything after the value.
inline json document_from_ondemand(simdjson::ondemand::document& document) {
  json result;
  switch (document.type()) {
    case simdjson::ondemand::json_type::object:
      result = from_ondemand(document.get_object().value());
      break;
    case simdjson::ondemand::json_type::array:
      result = from_ondemand(document.get_array().value());
      break;
    case simdjson::ondemand::json_type::string: result = string_value(document.get_string()); break;
    case simdjson::ondemand::json_type::number:
      switch (document.get_number_type()) {
        case simdjson::ondemand::number_type::unsigned_integer:
          result = static_cast<json::number_unsigned_t>(document.get_uint64());
          break;
        case simdjson::ondemand::number_type::signed_integer:
          result = integer_value(document.get_int64());
          break;
        default: result = static_cast<double>(document.get_double());
      }
      break;
    case simdjson::ondemand::json_type::boolean:
      result = static_cast<bool>(document.get_bool());
      break;
    case simdjson::ondemand::json_type::null:
      if (!document.is_null()) throw simdjson::simdjson_error(simdjson::INCORRECT_TYPE);
      break;
  }
  if (!at_end(document)) throw simdjson::simdjson_error(simdjson::TRAILING_CONTENT);
  return result;
}

// ---- DOM ----

inline json from_dom(simdjson::dom::element element) {
  switch (element.type()) {
    case simdjson::dom::element_type::OBJECT: {
      json result(json::value_t::object);
      auto& members = result.get_ref<json::object_t&>();
      for (const auto field : simdjson::dom::object(element)) {
        put_member(members, field.key, from_dom(field.value));
      }
      return result;
    }
    case simdjson::dom::element_type::ARRAY: {
      json result(json::value_t::array);
      auto& elements = result.get_ref<json::array_t&>();
      for (const simdjson::dom::element child : simdjson::dom::array(element)) {
        elements.push_back(from_dom(child));
      }
      return result;
    }
    case simdjson::dom::element_type::STRING: return string_value(element.get_string());
    case simdjson::dom::element_type::INT64: return integer_value(element.get_int64());
    case simdjson::dom::element_type::UINT64:
      return json(static_cast<json::number_unsigned_t>(element.get_uint64()));
    case simdjson::dom::element_type::DOUBLE:
      return json(static_cast<double>(element.get_double()));
    case simdjson::dom::element_type::BOOL: return json(static_cast<bool>(element.get_bool()));
    case simdjson::dom::element_type::NULL_VALUE: return json(nullptr);
  }
  throw simdjson::simdjson_error(simdjson::INCORRECT_TYPE);
}

}  // namespace procslink::bench::simdjson_convert
