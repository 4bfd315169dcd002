// procslink - call and serve JSON-RPC 2.0 over netlink across Linux namespaces.
#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "procslink/procslink.hpp"

int main(int argc, char** argv) {
  using namespace procslink;
  CLI::App app{"procslink: JSON-RPC 2.0 between processes in different Linux namespaces, "
               "over NETLINK_USERSOCK.\nExit status: 0 ok, 1 remote JSON-RPC error, "
               "2 transport or usage failure."};
  app.set_version_flag("--version", "procslink " + std::string(kVersion));
  app.require_subcommand(1);
  app.fallthrough();  // -v is accepted after the subcommand too
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "debug logging on stderr");
  std::function<int()> run;
  cli::add_demo_server(app, run);
  cli::add_client_commands(app, run);
  cli::add_introspect(app, run);
  cli::add_peers(app, run);
  cli::add_subscribe(app, run);
  cli::add_monitor(app, run);
  cli::add_completion(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "procslink: " << e.what() << " (see --help)\n";
    return cli::kExitFailure;
  }
  if (verbose) set_log_level(LogLevel::debug);
  try {
    return run();
  } catch (const RemoteError& e) {
    std::cerr << "procslink: remote error " << e.code() << ": " << e.message();
    if (e.data()) std::cerr << "; data: " << to_text(*e.data());
    std::cerr << '\n';
    return cli::kExitRemoteError;
  } catch (const cli::UsageError& e) {
    std::cerr << "procslink: " << e.what() << '\n';
    return cli::kExitFailure;
  } catch (const std::exception& e) {
    std::cerr << "procslink: " << e.what() << '\n';
    return cli::kExitFailure;
  }
}
