// commands.hpp - the procslink CLI's subcommands and the exit-code contract they share.
//
// Exit status: 0 success; 1 the remote peer answered with a JSON-RPC error; 2 transport or
// usage failure. Every failure is one line on stderr.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace procslink::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRemoteError = 1;
inline constexpr int kExitFailure = 2;

// A usage mistake found after parsing (bad PARAMS_JSON, ...): exit 2 with the message.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Each add_* registers a subcommand and sets `run` to its action when it is the one chosen.
void add_demo_server(CLI::App& app, std::function<int()>& run);
void add_client_commands(CLI::App& app, std::function<int()>& run);
void add_introspect(CLI::App& app, std::function<int()>& run);
void add_peers(CLI::App& app, std::function<int()>& run);
void add_subscribe(CLI::App& app, std::function<int()>& run);
void add_monitor(CLI::App& app, std::function<int()>& run);
void add_completion(CLI::App& app, std::function<int()>& run);

}  // namespace procslink::cli
