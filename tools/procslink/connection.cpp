// connection.cpp - TARGET, client peers and PARAMS_JSON for the client subcommands.
#include "connection.hpp"

#include <cstdio>
#include <stdexcept>

#include "commands.hpp"

namespace procslink::cli {

void add_target_options(CLI::App* cmd, TargetOptions& t, bool with_timeout) {
  if (with_timeout) {
    cmd->add_option("--timeout", t.timeout_ms, "milliseconds to wait for the reply")
        ->check(CLI::Range(1L, 86400000L))
        ->capture_default_str();
  }
  cmd->add_option("--netns", t.netns, "send from inside this network namespace (a path)");
  cmd->add_option("TARGET", t.target, "the peer: a decimal nl_pid or a service name")->required();
}

PeerOptions client_options(const TargetOptions& t, PeerOptions options) {
  options.netns = t.netns;
  options.workers = 1;
  options.timeout = std::chrono::milliseconds(t.timeout_ms);
  return options;
}

Target parse_target_or_usage(const std::string& text) {
  try {
    return parse_target(text);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
}

namespace {
Channel open_channel(RPCPeer& peer, const Target& target) {
  if (target.name.empty()) return peer.talk_to(target.nl_pid);
  return peer.talk_to(std::string_view(target.name));
}
}  // namespace

Connection::Connection(const TargetOptions& t, PeerOptions options)
    : target(parse_target_or_usage(t.target)),
      peer(client_options(t, std::move(options))),
      channel(open_channel(peer, target)) {}

namespace {
std::string read_stdin(std::size_t limit) {
  std::string text;
  char chunk[1 << 16];
  for (;;) {
    const std::size_t n = std::fread(chunk, 1, sizeof chunk, stdin);
    if (n == 0) break;
    if (text.size() + n > limit) {
      throw UsageError("PARAMS_JSON on stdin exceeds the maximum message size of " +
                       std::to_string(limit) + " bytes");
    }
    text.append(chunk, n);
  }
  if (std::ferror(stdin)) throw UsageError("cannot read PARAMS_JSON from stdin");
  return text;
}
}  // namespace

json read_params(const std::optional<std::string>& text, std::size_t limit) {
  if (!text) return nullptr;
  const std::string source = *text == "-" ? read_stdin(limit) : *text;
  if (source.size() > limit) {
    throw UsageError("PARAMS_JSON exceeds the maximum message size of " + std::to_string(limit) +
                     " bytes");
  }
  json params;
  try {
    params = parse_json(source);
  } catch (const JsonRpcError& e) {
    throw UsageError("PARAMS_JSON is not valid JSON: " + std::string(e.what()));
  }
  if (!params.is_array() && !params.is_object()) {
    throw UsageError("PARAMS_JSON must be a JSON array or object, not " +
                     std::string(params.type_name()));
  }
  return params;
}

}  // namespace procslink::cli
