// procslink demo-server: the demo methods, served until SIGINT or SIGTERM.
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <thread>

#include "commands.hpp"
#include "procslink/procslink.hpp"

namespace procslink::cli {
namespace {

RPCPeer* g_serving = nullptr;
std::atomic<int> g_stop_signals{0};  // lock-free: safe in a signal handler

// The first SIGINT/SIGTERM stops serving (running handlers get their grace period); a second
// one ends the process at once.
extern "C" void on_stop_signal(int) {
  if (g_stop_signals.fetch_add(1) > 0) {
    static const char message[] = "procslink: second stop signal: exiting at once\n";
    (void)!::write(STDERR_FILENO, message, sizeof message - 1);
    ::_exit(kExitFailure);
  }
  if (g_serving) g_serving->stop();  // async-signal-safe: an atomic store and a write()
}

// A server that anyone in the namespace can make allocate gives that memory back to the system
// once it is freed. glibc by default raises its mmap threshold to the largest buffer freed so
// far (up to 32 MiB), after which large buffers come from each thread's arena, and freed memory
// at the top of an arena stays resident up to twice that threshold (malloc_trim does not
// shrink those tops). A fixed threshold maps and unmaps every buffer of 1 MiB or more whole.
void give_large_buffers_back_when_freed() { (void)mallopt(M_MMAP_THRESHOLD, 1 << 20); }

// --name: a service name must be reachable by name, so neither empty nor a decimal number
// (which TARGET would read as an nl_pid).
void check_service_name(const std::string& name) {
  const Target parsed = [&] {
    try {
      return parse_target(name);
    } catch (const std::invalid_argument&) {
      throw UsageError("--name: a service name cannot be empty or a number");
    }
  }();
  if (parsed.name.empty()) {
    throw UsageError("--name " + name + ": a service name cannot be a decimal number (TARGET " +
                     name + " means nl_pid " + name + ")");
  }
}

// True for an integer that converts to int64 unchanged (nlohmann keeps larger ones unsigned).
bool fits_int64(const json& value) {
  return value.is_number_integer() &&
         !(value.is_number_unsigned() &&
           value.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX));
}

// Adds two JSON numbers, keeping integers integral while the sum fits in 64 bits; a client may
// send any integers, and signed overflow would be undefined behaviour, so beyond that: doubles.
json add_numbers(const json& a, const json& b) {
  std::int64_t sum = 0;
  if (fits_int64(a) && fits_int64(b) &&
      !__builtin_add_overflow(a.get<std::int64_t>(), b.get<std::int64_t>(), &sum)) {
    return sum;
  }
  return a.get<double>() + b.get<double>();
}

json require_number(const json& value, const char* what) {
  if (!value.is_number()) {
    throw JsonRpcError(error_code::invalid_params, "Invalid params",
                       std::string(what) + " must be a number");
  }
  return value;
}

void register_demo_methods(RPCPeer& peer) {
  peer.declare_event("tick");
  peer.register_function(
      "emit",
      [&peer](const std::string& event, json value) { return peer.emit(event, std::move(value)); },
      {"event", "value"});
  peer.register_function("hello", [](const std::string& name) { return "Hello, " + name + "!"; },
                         {"name"});
  peer.register_function("echo", [](json value) { return value; }, {"value"});
  peer.register_function(
      "subtract",
      [](const json& minuend, const json& subtrahend) {
        json negated = require_number(subtrahend, "subtrahend");
        if (fits_int64(negated) && negated.get<std::int64_t>() != INT64_MIN) {
          negated = -negated.get<std::int64_t>();
        } else {
          negated = -negated.get<double>();
        }
        return add_numbers(require_number(minuend, "minuend"), negated);
      },
      {"minuend", "subtrahend"});
  peer.register_raw("sum", [](const json& params, const CallContext&) {
    json total = 0;
    if (params.is_null()) return total;
    if (!params.is_array()) {
      throw JsonRpcError(error_code::invalid_params, "Invalid params", "sum takes positional numbers");
    }
    for (const auto& n : params) total = add_numbers(total, require_number(n, "every argument"));
    return total;
  });
  peer.register_function("get_data", [] { return json::array({"hello", 5}); });
  for (const char* name : {"update", "notify_hello", "notify_sum"}) {
    peer.register_raw(name, [](const json&, const CallContext&) { return json(nullptr); });
  }
  peer.register_function(
      "sleep",
      [](std::int64_t ms) {
        if (ms < 0 || ms > 600000) {
          throw JsonRpcError(error_code::invalid_params, "Invalid params",
                             "ms must be between 0 and 600000");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        return ms;
      },
      {"ms"});
  peer.register_function(
      "whoami",
      [](const CallContext& context) {
        return json{{"pid", context.credentials.pid},
                    {"uid", context.credentials.uid},
                    {"gid", context.credentials.gid},
                    {"nl_pid", context.sender_nl_pid},
                    {"netns", context.netns}};
      });
  peer.register_function(
      "fail",
      [](const std::string& message) -> json { throw JsonRpcError(-32000, message); },
      {"message"});
}

}  // namespace

// What a hostile neighbour meets (docs/security.md), settable for a server or a test.
struct LimitArgs {
  std::size_t max_workers = PeerOptions{}.max_workers;
  std::size_t per_uid = PeerOptions{}.max_workers_per_uid;
  std::size_t max_message = PeerOptions{}.max_message_size;
  std::size_t budget = PeerOptions{}.reassembly_budget;
  long reassembly_timeout_ms = PeerOptions{}.reassembly_timeout.count();

  void add_to(CLI::App& cmd) {
    cmd.add_option("--max-workers", max_workers, "serving threads at most")
        ->check(CLI::Range(std::size_t{1}, std::size_t{4096}))
        ->capture_default_str();
    cmd.add_option("--max-workers-per-uid", per_uid,
                   "handlers one uid may run at once; more get -32004 (0: 3/4 of --max-workers)")
        ->capture_default_str();
    cmd.add_option("--max-message-size", max_message, "bytes; larger messages are refused")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30))
        ->capture_default_str();
    cmd.add_option("--reassembly-budget", budget,
                   "bytes all incomplete fragmented messages may hold (0: 2 * max message size)")
        ->capture_default_str();
    cmd.add_option("--reassembly-timeout", reassembly_timeout_ms,
                   "ms an incomplete fragmented message is kept")
        ->check(CLI::Range(1L, 3600000L))
        ->capture_default_str();
  }
  void apply(PeerOptions& options) const {
    options.max_workers = max_workers;
    options.max_workers_per_uid = per_uid;
    options.max_message_size = max_message;
    options.reassembly_budget = budget;
    options.reassembly_timeout = std::chrono::milliseconds(reassembly_timeout_ms);
  }
};

void add_demo_server(CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand("demo-server", "serve the demo methods until SIGINT/SIGTERM; "
                                                "prints the nl_pid as the first line");
  struct Args {
    std::string name;
    std::vector<std::string> netns;
    std::vector<uid_t> allow_uids;
    long spin_us = 0;
    long takeover_us = static_cast<long>(PeerOptions{}.spin_takeover.count());
    std::size_t workers = 0;
    long stop_grace_ms = PeerOptions{}.stop_grace.count();
    LimitArgs limits;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--name", args->name, "bind the port id of this service name");
  cmd->add_option("--netns", args->netns, "also serve inside this network namespace (repeatable)");
  cmd->add_option("--allow-uid", args->allow_uids, "only callers with this uid (repeatable)");
  cmd->add_option("--spin", args->spin_us, "busy-poll this many microseconds before blocking")
      ->check(CLI::Range(0L, 1000000L))
      ->capture_default_str();
  cmd->add_option("--spin-takeover", args->takeover_us,
                  "with --spin: idle threads take over from a spinner stuck in a handler this "
                  "long")
      ->check(CLI::Range(1L, 1000000L))
      ->capture_default_str();
  cmd->add_option("--workers", args->workers, "serving threads kept ready (0: one per core)")
      ->capture_default_str();
  cmd->add_option("--stop-grace", args->stop_grace_ms,
                  "on SIGINT/SIGTERM, how long running requests may still finish (ms); new "
                  "ones are answered -32003 meanwhile")
      ->check(CLI::Range(0L, 3600000L))
      ->capture_default_str();
  args->limits.add_to(*cmd);
  cmd->callback([&run, args, cmd] {
    run = [args, name_given = cmd->count("--name") > 0] {
      if (name_given) check_service_name(args->name);
      give_large_buffers_back_when_freed();
      PeerOptions options;
      options.name = args->name;
      options.extra_netns = args->netns;
      options.spin = std::chrono::microseconds(args->spin_us);
      options.spin_takeover = std::chrono::microseconds(args->takeover_us);
      options.workers = args->workers;
      options.stop_grace = std::chrono::milliseconds(args->stop_grace_ms);
      options.policy.uids.insert(args->allow_uids.begin(), args->allow_uids.end());
      args->limits.apply(options);
      RPCPeer peer(options);
      register_demo_methods(peer);
      g_serving = &peer;
      struct sigaction action {};
      action.sa_handler = on_stop_signal;
      sigemptyset(&action.sa_mask);
      sigaction(SIGINT, &action, nullptr);
      sigaction(SIGTERM, &action, nullptr);
      std::cout << peer.nl_pid() << std::endl;
      for (const auto& netns : args->netns) {
        log(LogLevel::info, "serving in ", netns, " as nl_pid ", peer.nl_pid(netns));
      }
      peer.run_server_forever();
      if (peer.serving()) {
        // A handler outlasted the grace period: end the process rather than wait for it.
        std::cerr << "procslink: a request was still running " << args->stop_grace_ms
                  << " ms after the stop signal; exiting without it" << std::endl;
        std::cout.flush();
        ::_exit(kExitOk);
      }
      g_serving = nullptr;
      return kExitOk;
    };
  });
}

}  // namespace procslink::cli
