// connection.hpp - how a client subcommand reaches its TARGET: the options every one of them
// shares (--timeout, --netns), the one TARGET parser, a client peer with a channel verified
// the same way for all of them, and PARAMS_JSON read with the size limit. Used by
// client_commands.cpp and the other client subcommands.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "procslink/procslink.hpp"

namespace procslink::cli {

inline constexpr long kDefaultTimeoutMs = 5000;

struct TargetOptions {
  std::string target;  // as given: a decimal nl_pid or a service name (parse_target)
  std::string netns;
  long timeout_ms = kDefaultTimeoutMs;
};

// Adds --netns, --timeout (when `with_timeout`) and the TARGET positional to `cmd`.
void add_target_options(CLI::App* cmd, TargetOptions& t, bool with_timeout = true);

// PeerOptions for a client of TARGET: its network namespace, its timeout, one serving thread.
PeerOptions client_options(const TargetOptions& t, PeerOptions options = {});

// TARGET parsed: throws UsageError for an empty or out-of-range one (parse_target).
Target parse_target_or_usage(const std::string& text);

// A client peer and a channel to TARGET. A service name is verified on the way: the peer
// there must answer rpc.identity with that name (TransportError no_peer or wrong_peer if not).
struct Connection {
  explicit Connection(const TargetOptions& t, PeerOptions options = {});
  Target target;
  RPCPeer peer;
  Channel channel;
};

// PARAMS_JSON: absent for none, "-" for stdin, else a JSON array or object. Input longer than
// `limit` bytes is refused as soon as it passes the limit (UsageError), before it is parsed.
json read_params(const std::optional<std::string>& text, std::size_t limit);

}  // namespace procslink::cli
