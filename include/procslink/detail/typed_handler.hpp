// detail/typed_handler.hpp - how RPCPeer::register_function turns a C++ callable into a handler
// of JSON params: the shape check (how many arguments, which names), the conversion of each
// argument with a message a caller understands ("argument 1 (name): expected string, got
// number"), optional trailing arguments (std::optional<T>: absent or null), and the call.
// Machinery for peer.hpp; users never name anything here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "procslink/jsonrpc.hpp"

namespace procslink {

struct CallContext;

namespace detail {

// ---- the callable's signature ----

template <typename T>
struct callable_traits : callable_traits<decltype(&std::decay_t<T>::operator())> {};
template <typename R, typename... A>
struct callable_traits<R (*)(A...)> {
  using result = R;
  using args = std::tuple<A...>;
};
template <typename R, typename... A>
struct callable_traits<R(A...)> : callable_traits<R (*)(A...)> {};
template <typename C, typename R, typename... A>
struct callable_traits<R (C::*)(A...)> : callable_traits<R (*)(A...)> {};
template <typename C, typename R, typename... A>
struct callable_traits<R (C::*)(A...) const> : callable_traits<R (*)(A...)> {};
template <typename C, typename R, typename... A>
struct callable_traits<R (C::*)(A...) noexcept> : callable_traits<R (*)(A...)> {};
template <typename C, typename R, typename... A>
struct callable_traits<R (C::*)(A...) const noexcept> : callable_traits<R (*)(A...)> {};

template <typename T>
inline constexpr bool is_optional_v = false;
template <typename T>
inline constexpr bool is_optional_v<std::optional<T>> = true;

template <typename A>
inline constexpr bool is_context_v = std::is_same_v<std::decay_t<A>, CallContext>;

// How many of the JSON arguments (the parameters after a leading CallContext) a request must
// give: all up to the last one that is not a std::optional.
template <typename... A>
constexpr std::size_t required_arguments() {
  constexpr bool flags[] = {is_optional_v<std::decay_t<A>>..., false};
  constexpr bool context[] = {is_context_v<A>..., false};
  std::size_t required = 0;
  std::size_t position = 0;
  for (std::size_t i = 0; i < sizeof...(A); ++i) {
    if (context[i]) continue;
    ++position;
    if (!flags[i]) required = position;
  }
  return required;
}

// ---- the params' shape ----

// Checks that params (array, object or null) fit a handler taking `count` arguments, the first
// `required` of them required: an array of `required` to `count` elements, or an object whose
// keys are among `names` and include the required ones. Throws "Invalid params".
void check_params_shape(const json& params, const std::vector<std::string>& names,
                        std::size_t count, std::size_t required);
// Argument `index` of params of a checked shape, or null when it is absent.
json* param_at(json& params, const std::vector<std::string>& names, std::size_t index);

// ---- converting one argument ----

// "argument 2 (subtrahend): `why`", as the data of an Invalid params error.
[[noreturn]] void throw_invalid_params(std::size_t index, const std::vector<std::string>& names,
                                       std::string_view why);
// "argument 2 (subtrahend): expected `expected`, got `kind of got`".
[[noreturn]] void throw_wrong_kind(std::size_t index, const std::vector<std::string>& names,
                                   std::string_view expected, const json& got);
// "argument 2 (subtrahend): `got` is out of range (`low` to `high`)".
[[noreturn]] void throw_out_of_range(std::size_t index, const std::vector<std::string>& names,
                                     const json& got, std::string low, std::string high);
// A json exception's text without nlohmann's "[json.exception.type_error.302] " prefix.
std::string_view plain_reason(const char* what);

template <typename T, typename = void>
inline constexpr bool is_sequence_v = false;
template <typename T>
inline constexpr bool is_sequence_v<T, std::void_t<typename T::value_type, decltype(std::declval<T&>().begin())>> =
    true;
template <typename T, typename = void>
inline constexpr bool is_mapping_v = false;
template <typename T>
inline constexpr bool is_mapping_v<T, std::void_t<typename T::mapped_type>> = true;

// What JSON a parameter of type T takes, as a caller would name it; null for "any".
template <typename T>
constexpr const char* expected_kind() {
  if constexpr (std::is_same_v<T, bool>) return "boolean";
  else if constexpr (std::is_integral_v<T>) return "integer";
  else if constexpr (std::is_floating_point_v<T>) return "number";
  else if constexpr (std::is_same_v<T, std::string>) return "string";
  else if constexpr (std::is_same_v<T, json>) return nullptr;
  else if constexpr (is_mapping_v<T>) return "object";
  else if constexpr (is_sequence_v<T>) return "array";
  else return nullptr;
}

// Whether `value` is of the kind `expected` names (null: anything is).
bool is_kind(const json& value, const char* expected);

// Whether `d` is a finite number without a fractional part (2.0, not 2.5).
bool is_whole_number(double d);

// An integer argument, refused unless it is an integer (or a whole number such as 2.0) in T's
// range: a value that would wrap or be cut is an error, never a different number.
template <typename T>
T convert_integer(const json& value, std::size_t index, const std::vector<std::string>& names) {
  using limits = std::numeric_limits<T>;
  bool fits = false;
  if (value.is_number_unsigned()) {
    fits = std::in_range<T>(value.get<std::uint64_t>());
  } else if (value.is_number_integer()) {
    fits = std::in_range<T>(value.get<std::int64_t>());
  } else if (value.is_number_float() && is_whole_number(value.get<double>())) {
    const double d = value.get<double>();
    fits = d >= static_cast<double>(limits::min()) && d < static_cast<double>(limits::max()) + 1.0;
  } else {
    throw_wrong_kind(index, names, "integer", value);
  }
  if (!fits) {
    throw_out_of_range(index, names, value, std::to_string(limits::min()),
                       std::to_string(limits::max()));
  }
  return value.is_number_float() ? static_cast<T>(value.get<double>()) : value.get<T>();
}

template <typename T>
T convert_param(const json& value, std::size_t index, const std::vector<std::string>& names) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    return convert_integer<T>(value, index, names);
  } else {
    constexpr const char* expected = expected_kind<T>();
    if (!is_kind(value, expected)) throw_wrong_kind(index, names, expected, value);
    try {
      return value.get<T>();
    } catch (const json::exception& e) {
      throw_invalid_params(index, names, plain_reason(e.what()));
    }
  }
}

// ---- calling ----

// A handler parameter of type const json& (or const CallContext&) is passed a reference to
// the value the peer already holds. A json or std::string parameter taken by value (or &&) gets
// the argument moved in, so a large argument is never copied on its way to a handler. Every
// other parameter gets its own converted copy.
template <typename A>
inline constexpr bool binds_in_place_v =
    std::is_lvalue_reference_v<A> && std::is_const_v<std::remove_reference_t<A>> &&
    (std::is_same_v<std::decay_t<A>, json> || is_context_v<A>);
template <typename A>
inline constexpr bool moves_in_v =
    !std::is_lvalue_reference_v<A> &&
    (std::is_same_v<std::decay_t<A>, json> || std::is_same_v<std::decay_t<A>, std::string>);
template <typename A>
using param_holder_t = std::conditional_t<binds_in_place_v<A>,
                                          std::reference_wrapper<const std::decay_t<A>>, std::decay_t<A>>;

// Argument `index` (present: the shape was checked) as a parameter of type A.
template <typename A>
param_holder_t<A> take_param(json* value, std::size_t index, const std::vector<std::string>& names) {
  using T = std::decay_t<A>;
  if constexpr (is_optional_v<T>) {
    if (value == nullptr || value->is_null()) return std::nullopt;
    return take_param<typename T::value_type>(value, index, names);
  } else if constexpr (binds_in_place_v<A>) {
    return std::as_const(*value);
  } else if constexpr (moves_in_v<A> && std::is_same_v<T, json>) {
    return std::move(*value);
  } else if constexpr (moves_in_v<A>) {
    if (!value->is_string()) throw_wrong_kind(index, names, "string", *value);
    return std::move(value->get_ref<std::string&>());
  } else {
    return convert_param<T>(*value, index, names);
  }
}

template <typename F, typename... A, std::size_t... I>
json invoke_typed(F& f, json& params, const std::vector<std::string>& names,
                  const CallContext& context, std::index_sequence<I...>) {
  using R = std::invoke_result_t<F&, A...>;
  constexpr bool has_context = sizeof...(A) > 0 &&
      is_context_v<std::tuple_element_t<0, std::tuple<A..., void>>>;
  constexpr std::size_t count = sizeof...(A) - (has_context ? 1 : 0);
  check_params_shape(params, names, count, required_arguments<A...>());
  // Convert every argument before calling, so a json error inside the user's own code is an
  // internal error, not "Invalid params".
  auto args = std::tuple<param_holder_t<A>...>{[&]() -> param_holder_t<A> {
    if constexpr (is_context_v<A>) {
      return context;
    } else {
      constexpr std::size_t index = I - (has_context ? 1 : 0);
      return take_param<A>(param_at(params, names, index), index, names);
    }
  }()...};
  if constexpr (std::is_void_v<R>) {
    std::apply(f, std::move(args));
    return nullptr;
  } else {
    return json(std::apply(f, std::move(args)));
  }
}

// The handler for `f`, whose parameters are A... (a leading const CallContext& is the call's).
template <typename F, typename... A>
auto make_typed_handler(F f, std::vector<std::string> names, std::tuple<A...>*) {
  return [f = std::move(f), names = std::move(names)](json&& params,
                                                      const CallContext& context) mutable {
    return invoke_typed<F, A...>(f, params, names, context, std::index_sequence_for<A...>{});
  };
}

}  // namespace detail
}  // namespace procslink
