// param_args.hpp - how Channel::call and notify hand their positional arguments to the
// request writer without building a json array: each argument held where it is (ParamArg,
// declared in jsonrpc.hpp beside the writer that reads it). Machinery behind peer.hpp.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "procslink/jsonrpc.hpp"

namespace procslink {
namespace detail {
template <typename T>
inline constexpr bool kIsText = std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view> ||
                                std::is_same_v<T, const char*> || std::is_same_v<T, char*>;

// A positional argument as Channel::call writes it: a json argument where it is, a string's
// text as it is, anything else converted to json here. Neither copied nor moved once made.
template <typename T>
class HeldArg {
 public:
  explicit HeldArg(T&& arg) {
    using D = std::remove_cvref_t<T>;
    if constexpr (std::is_same_v<D, json>) {
      arg_.value = &arg;
    } else if constexpr (std::is_pointer_v<D> && kIsText<D>) {
      if (arg != nullptr) {
        arg_.text = std::string_view(arg);
      } else {
        converted_ = json(std::forward<T>(arg));  // throws, as json::array({json(arg)}) would
        arg_.value = &converted_;
      }
    } else if constexpr (kIsText<std::decay_t<D>>) {
      arg_.text = std::string_view(arg);
    } else {
      converted_ = json(std::forward<T>(arg));
      arg_.value = &converted_;
    }
  }
  HeldArg(const HeldArg&) = delete;
  HeldArg& operator=(const HeldArg&) = delete;
  const ParamArg& get() const { return arg_; }

 private:
  json converted_;
  ParamArg arg_;
};

// Calls `send(span of ParamArg)` with `args` held as HeldArg for the duration.
template <typename Send, typename... Args>
decltype(auto) with_param_args(Send&& send, Args&&... args) {
  if constexpr (sizeof...(Args) == 0) {
    return send(std::span<const ParamArg>());
  } else {
    const std::tuple<HeldArg<Args&&>...> held{std::forward<Args>(args)...};
    return std::apply(
        [&](const auto&... h) {
          const ParamArg list[] = {h.get()...};
          return send(std::span<const ParamArg>(list));
        },
        held);
  }
}
}  // namespace detail

}  // namespace procslink
