// procslink peers: every procslink peer of a network namespace (list_peers), as a table for
// people or a JSON array for scripts; what this caller could not see goes to stderr.
#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "procslink/procslink.hpp"

namespace procslink::cli {
namespace {

template <typename T>
std::string or_dash(const std::optional<T>& value) {
  if (!value) return "-";
  if constexpr (std::is_same_v<T, std::string>) {
    return *value;
  } else {
    return std::to_string(*value);
  }
}

template <typename T>
json or_null(const std::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

void print_table(const std::vector<PeerInfo>& peers) {
  std::printf("%-10s %-8s %-16s %-6s %s\n", "NL_PID", "PID", "PROCESS", "UID", "NAME");
  for (const PeerInfo& p : peers) {
    const std::string name = p.answered ? or_dash(p.name) : std::string("(no answer)");
    std::printf("%-10u %-8s %-16s %-6s %s\n", p.socket.nl_pid, or_dash(p.socket.pid).c_str(),
                or_dash(p.socket.process).c_str(), or_dash(p.socket.uid).c_str(), name.c_str());
  }
}

void print_json(const std::vector<PeerInfo>& peers, bool all) {
  json list = json::array();
  for (const PeerInfo& p : peers) {
    json entry{{"nl_pid", p.socket.nl_pid},   {"pid", or_null(p.socket.pid)},
               {"process", or_null(p.socket.process)}, {"uid", or_null(p.socket.uid)},
               {"name", or_null(p.name)}};
    if (all) entry["answered"] = p.answered;
    list.push_back(std::move(entry));
  }
  std::cout << to_text(list) << '\n';
}

int run_peers(const DiscoveryOptions& options, bool as_json) {
  const Discovery found = list_peers(options);
  for (const std::string& note : found.unseen) std::cerr << "procslink: note: " << note << '\n';
  if (as_json) {
    print_json(found.peers, options.include_silent);
  } else {
    print_table(found.peers);
  }
  return kExitOk;
}

}  // namespace

void add_peers(CLI::App& app, std::function<int()>& run) {
  struct Args {
    DiscoveryOptions options;
    long timeout_ms = 300;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* peers = app.add_subcommand(
      "peers", "list the procslink peers of the network namespace: NL_PID PID PROCESS UID NAME, "
               "sorted by nl_pid ('-' where this caller cannot see)");
  peers->add_option("--netns", a->options.netns, "look inside this network namespace (a path)");
  peers->add_flag("--all", a->options.include_silent,
                  "also list the NETLINK_USERSOCK sockets that did not answer, as '(no answer)'");
  peers->add_flag("--json", a->json,
                  "print a JSON array of {nl_pid, pid, process, uid, name} (null where unknown)");
  peers->add_option("--timeout", a->timeout_ms, "milliseconds the probes wait for replies")
      ->check(CLI::Range(1L, 60000L))
      ->capture_default_str();
  peers->callback([&run, a] {
    run = [a] {
      a->options.timeout = std::chrono::milliseconds(a->timeout_ms);
      return run_peers(a->options, a->json);
    };
  });
}

}  // namespace procslink::cli
