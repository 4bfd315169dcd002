// typed_handler.cpp - the non-template half of detail/typed_handler.hpp: the params' shape
// check and the Invalid params messages a caller reads.
#include "procslink/detail/typed_handler.hpp"

#include <algorithm>
#include <cmath>

namespace procslink::detail {
namespace {

[[noreturn]] void invalid(std::string why) {
  throw JsonRpcError(error_code::invalid_params, "Invalid params", std::move(why));
}

// "1 argument", "2 arguments", "1 to 3 arguments".
std::string arguments(std::size_t required, std::size_t count) {
  std::string text = required == count ? "" : std::to_string(required) + " to ";
  return text + std::to_string(count) + (count == 1 ? " argument" : " arguments");
}

const char* kind_of(const json& value) {
  switch (value.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "number";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    default: return "a value of no JSON type";
  }
}

}  // namespace

void check_params_shape(const json& params, const std::vector<std::string>& names,
                        std::size_t count, std::size_t required) {
  if (params.is_null()) {
    if (required != 0) invalid("expected " + arguments(required, count) + ", got none");
  } else if (params.is_array()) {
    if (params.size() < required || params.size() > count) {
      invalid("expected " + arguments(required, count) + ", got " + std::to_string(params.size()));
    }
  } else if (params.is_object()) {
    if (names.size() != count) invalid("this method takes positional arguments only");
    for (std::size_t i = 0; i < required; ++i) {
      if (!params.contains(names[i])) invalid("missing named argument '" + names[i] + "'");
    }
    for (const auto& [key, value] : params.items()) {
      if (std::find(names.begin(), names.end(), key) == names.end()) {
        invalid("unexpected named argument '" + key + "'");
      }
    }
  } else {
    invalid("params must be an array or an object");
  }
}

json* param_at(json& params, const std::vector<std::string>& names, std::size_t index) {
  if (params.is_object()) {
    const auto it = params.find(names[index]);
    return it == params.end() ? nullptr : &*it;
  }
  return params.is_array() && index < params.size() ? &params[index] : nullptr;
}

void throw_invalid_params(std::size_t index, const std::vector<std::string>& names,
                          std::string_view why) {
  std::string which = "argument " + std::to_string(index + 1);
  if (index < names.size()) which += " (" + names[index] + ")";
  invalid(which + ": " + std::string(why));
}

void throw_wrong_kind(std::size_t index, const std::vector<std::string>& names,
                      std::string_view expected, const json& got) {
  throw_invalid_params(index, names,
                       "expected " + std::string(expected) + ", got " + kind_of(got));
}

void throw_out_of_range(std::size_t index, const std::vector<std::string>& names, const json& got,
                        std::string low, std::string high) {
  throw_invalid_params(index, names,
                       got.dump() + " is out of range (" + low + " to " + high + ")");
}

std::string_view plain_reason(const char* what) {
  std::string_view text(what);
  if (text.starts_with("[json.exception.")) {
    if (const auto end = text.find("] "); end != std::string_view::npos) {
      text.remove_prefix(end + 2);
    }
  }
  return text;
}

bool is_kind(const json& value, const char* expected) {
  if (expected == nullptr) return true;
  const std::string_view want(expected);
  if (want == "number") return value.is_number();
  if (want == "integer") return value.is_number_integer();
  return want == kind_of(value);
}

bool is_whole_number(double d) { return std::isfinite(d) && std::trunc(d) == d; }

}  // namespace procslink::detail
