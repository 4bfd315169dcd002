// procslink_bench: what procslink costs over raw netlink, measured side by side.
//
// Every figure is printed next to a raw-netlink baseline measured in the same run, on the same
// CPUs, with datagrams of the same sizes (see raw_netlink.hpp), and as the ratio of the two.
// Servers and clients are separate processes. "cross-core" pins the client to one CPU and the
// server to another; "pinned" puts both on the same CPU, so every round trip is two context
// switches.
//
//   procslink_bench            the full run (a few minutes)
//   procslink_bench --quick    small counts, for smoke testing (ctest runs this)
//
// PROCSLINK_PYREF=/path/to/dir (containing the Python reference package) adds an echo run
// against a reference server.
#include <sched.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <stdexcept>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "harness.hpp"
#include "procslink/procslink.hpp"
#include "raw_netlink.hpp"

namespace procslink::bench {
namespace {

using std::chrono::microseconds;

// ---- configuration ----

struct Config {
  bool quick = false;
  std::string only;  // run one section: echo, throughput, large, scaling, python
  int reps = 3;      // raw and procslink alternate this many times; the median rep is reported
  std::size_t echo_calls = 20000;
  std::size_t pipelined_calls = 60000;
  std::vector<std::size_t> windows{1, 16, 256};
  struct Large {
    std::size_t size;
    std::size_t repeats;
    bool give_back = true;  // the caller hands each result back (RPCPeer::give_back)
  };
  std::vector<Large> large{
      {64u << 10, 400}, {1u << 20, 40}, {64u << 20, 2}, {64u << 20, 2, false}};
  std::vector<int> scaling_clients{1, 8, 64};
  double scaling_seconds = 2.0;
  microseconds spin{50};
  std::size_t fragment = PeerOptions{}.fragment_size;
};

Config quick_config() {
  Config c;
  c.quick = true;
  c.reps = 1;
  c.echo_calls = 1500;
  c.pipelined_calls = 3000;
  c.large = {{64u << 10, 20}, {1u << 20, 4}, {64u << 20, 1}, {64u << 20, 1, false}};
  c.scaling_seconds = 0.3;
  return c;
}

struct Placement {
  const char* name;
  int client_cpu;
  int server_cpu;
};

// The payload of every small echo: a short string, as a typical small call carries.
const std::string kSmallPayload = "procslink benchmark payload 0123";

// ---- results ----

struct Row {
  std::string section;
  std::string what;
  std::string placement;
  std::string unit;
  double procslink = NAN;
  double raw = NAN;
  bool lower_is_better = true;
  std::optional<double> target;  // ratio bound: at most (lower is better) or at least
  std::string note;

  double ratio() const { return procslink / raw; }
};

std::vector<Row> g_rows;
bool g_failed = false;

std::string format_number(double v) {
  if (std::isnan(v)) return "n/a";
  char text[64];
  if (v >= 100) std::snprintf(text, sizeof text, "%.0f", v);
  else if (v >= 10) std::snprintf(text, sizeof text, "%.1f", v);
  else std::snprintf(text, sizeof text, "%.2f", v);
  return text;
}

std::string format_ratio(double r) {
  if (std::isnan(r) || std::isinf(r)) return "n/a";
  char text[32];
  std::snprintf(text, sizeof text, "%.2fx", r);
  return text;
}

void add_row(Row row) {
  std::fprintf(stderr, "  %-28s %-11s procslink %10s  raw %10s %-7s ratio %s\n", row.what.c_str(),
               row.placement.c_str(), format_number(row.procslink).c_str(),
               format_number(row.raw).c_str(), row.unit.c_str(), format_ratio(row.ratio()).c_str());
  if (std::isnan(row.ratio())) g_failed = true;
  g_rows.push_back(std::move(row));
}

void print_table() {
  std::printf("\n| Benchmark | Placement | procslink | raw netlink | unit | procslink / raw | target | met |\n");
  std::printf("|---|---|---:|---:|---|---:|---|---|\n");
  for (const auto& row : g_rows) {
    std::string target = "-", met = "-";
    if (row.target) {
      char text[32];
      std::snprintf(text, sizeof text, "%s %.2fx", row.lower_is_better ? "<=" : ">=", *row.target);
      target = text;
      const double r = row.ratio();
      met = std::isnan(r) ? "n/a"
            : (row.lower_is_better ? r <= *row.target : r >= *row.target) ? "yes" : "**no**";
    }
    std::string what = row.section + ": " + row.what;
    if (!row.note.empty()) what += " (" + row.note + ")";
    std::printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", what.c_str(), row.placement.c_str(),
                format_number(row.procslink).c_str(), format_number(row.raw).c_str(),
                row.unit.c_str(), format_ratio(row.ratio()).c_str(), target.c_str(), met.c_str());
  }
}

double median_of(std::vector<double> values) { return percentile(std::move(values), 0.5); }

// ---- procslink servers and clients ----

[[noreturn]] void serve_procslink_echo(int out_fd, microseconds spin) {
  PeerOptions options;
  options.spin = spin;
  RPCPeer peer(options);
  // The demo server's echo, registered the same way.
  peer.register_function("echo", [](json value) { return value; }, {"value"});
  announce_nl_pid(out_fd, peer.nl_pid());
  peer.run_server_forever();
  std::_Exit(0);
}

double elapsed_us(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

// Synchronous echo calls, each timed after `warmup` untimed ones, until `count` are timed or
// `limit` has passed since the gate opened.
Measurement procslink_round_trips(std::uint32_t server, microseconds spin, const Gate& gate,
                                  std::size_t warmup, std::size_t count,
                                  Clock::duration limit = Clock::duration::max()) {
  PeerOptions options;
  options.spin = spin;
  RPCPeer client(options);
  const Channel channel = client.talk_to(server);
  const json payload = kSmallPayload;
  Measurement m;
  m.latencies_us.reserve(std::min<std::size_t>(count, 1u << 22));
  gate.wait_open();
  const auto begin = Clock::now();
  const auto until = limit == Clock::duration::max() ? Clock::time_point::max() : begin + limit;
  for (std::size_t i = 0; i < warmup + count; ++i) {
    const auto start = Clock::now();
    if (start >= until) break;
    const json result = channel.call("echo", payload);
    if (i >= warmup) m.latencies_us.push_back(elapsed_us(start));
    if (result != payload) throw std::runtime_error("echo returned something else");
  }
  m.seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  m.operations = m.latencies_us.size();
  return m;
}

// Keeps `window` asynchronous calls in flight, starting the next one from each completion.
double procslink_pipelined_seconds(const Channel& channel, std::size_t window, std::size_t count) {
  const json params = json::array({kSmallPayload});
  std::mutex mu;
  std::condition_variable finished;
  std::size_t issued = 0, completed = 0;
  std::exception_ptr failure;
  std::function<void(CallOutcome)> done = [&](CallOutcome outcome) {
    std::exception_ptr error;
    try {
      if (outcome.get() != params[0]) throw std::runtime_error("echo returned something else");
    } catch (...) {
      error = std::current_exception();
    }
    bool more = false;
    {
      std::lock_guard lock(mu);
      if (error && !failure) failure = error;
      ++completed;
      if (issued < count && !failure) {
        ++issued;
        more = true;
      }
      if (completed == issued) finished.notify_all();
    }
    if (more) channel.async_call_with("echo", params, done);
  };
  const std::size_t first = std::min(window, count);
  const auto start = Clock::now();
  {
    std::lock_guard lock(mu);
    issued = first;
  }
  for (std::size_t i = 0; i < first; ++i) channel.async_call_with("echo", params, done);
  std::unique_lock lock(mu);
  finished.wait(lock, [&] { return completed == issued && (issued == count || failure); });
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (failure) std::rethrow_exception(failure);
  return seconds;
}

// Echoes a `size`-byte JSON string `repeats` times; returns seconds.
double procslink_large_seconds(std::uint32_t server, const Gate& gate, std::size_t size,
                               std::size_t repeats, bool give_back) {
  RPCPeer client;
  const Channel channel = client.talk_to(server).with_timeout(std::chrono::seconds(120));
  const json params = json::array({std::string(size, 'a')});
  gate.wait_open();
  // One untimed echo first: it faults in the buffers both sides then reuse, as the raw copy's
  // buffers are allocated and touched before its clock starts.
  json warm = channel.call_with("echo", params);
  if (give_back) client.give_back(std::move(warm));
  const auto start = Clock::now();
  for (std::size_t r = 0; r < repeats; ++r) {
    json result = channel.call_with("echo", params);
    if (!result.is_string() || result.get_ref<const std::string&>().size() != size) {
      throw std::runtime_error("echo returned something else");
    }
    if (give_back) client.give_back(std::move(result));  // as a raw copy reuses its buffer
  }
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// ---- running things against a fresh server ----

// Starts a server with `serve`, runs `clients` client processes with `client`, and returns what
// they measured. The server is killed afterwards.
Measurement measure(const Placement& where, const std::function<void(int)>& serve, int clients,
                    const std::function<Measurement(std::uint32_t server, const Gate&)>& client) {
  auto [server, nl_pid] = start_server(where.server_cpu, serve);
  const std::uint32_t target = nl_pid;
  return run_clients(clients, where.client_cpu,
                     [&](const Gate& gate) { return client(target, gate); });
}

Measurement timed(double seconds, std::uint64_t operations) {
  Measurement m;
  m.seconds = seconds;
  m.operations = operations;
  return m;
}

// ---- 1. echo round trip ----

struct EchoSizes {
  std::size_t request, reply;
};

EchoSizes echo_datagram_sizes() {
  // The raw datagrams are exactly as long as procslink's request and reply for this payload.
  return {kDatagramHeadersSize +
              to_text(JsonRpcRequest{"echo", json::array({kSmallPayload}), 12345}.to_json()).size(),
          kDatagramHeadersSize +
              to_text(JsonRpcResponse::success(12345, kSmallPayload).to_json()).size()};
}

void echo_section(const Config& config, const std::vector<Placement>& placements) {
  const EchoSizes sizes = echo_datagram_sizes();
  std::fprintf(stderr,
               "1. echo round trip: %zu calls per run, %d run(s) each; datagrams %zu and %zu bytes\n",
               config.echo_calls, config.reps, sizes.request, sizes.reply);
  const std::size_t warmup = std::max<std::size_t>(200, config.echo_calls / 20);
  for (const bool spinning : {false, true}) {
    for (const auto& where : placements) {
      const microseconds spin = spinning ? config.spin : microseconds(0);
      std::vector<double> medians[2], p99s[2];
      for (int rep = 0; rep < config.reps; ++rep) {
        for (const bool raw : {true, false}) {
          Measurement m;
          if (raw) {
            m = measure(
                where, [&](int out) { serve_raw_ping_pong(out, sizes.reply, spin); }, 1,
                [&](std::uint32_t server, const Gate& gate) {
                  return raw_round_trips({server, sizes.request, spin}, [&] { gate.wait_open(); },
                                         warmup, config.echo_calls);
                });
          } else {
            m = measure(
                where, [&](int out) { serve_procslink_echo(out, spin); }, 1,
                [&](std::uint32_t server, const Gate& gate) {
                  return procslink_round_trips(server, spin, gate, warmup, config.echo_calls);
                });
          }
          medians[raw].push_back(percentile(m.latencies_us, 0.5));
          p99s[raw].push_back(percentile(m.latencies_us, 0.99));
        }
      }
      const std::string mode = spinning ? "spin " + std::to_string(config.spin.count()) + " us"
                                        : "blocking";
      // Two spinners sharing one CPU mostly measure the scheduler's time slice: no target.
      const bool shared_spin = spinning && where.client_cpu == where.server_cpu;
      std::optional<double> target;
      if (!shared_spin) target = spinning ? 1.5 : 1.3;
      add_row({"echo", mode + ", median", where.name, "us", median_of(medians[0]),
               median_of(medians[1]), true, target, shared_spin ? "both sides spin on one CPU" : ""});
      add_row({"echo", mode + ", p99", where.name, "us", median_of(p99s[0]), median_of(p99s[1]),
               true, std::nullopt, ""});
    }
  }
}

// ---- 2. pipelined throughput ----

void throughput_section(const Config& config, const Placement& where) {
  const EchoSizes sizes = echo_datagram_sizes();
  std::fprintf(stderr, "2. pipelined throughput: %zu calls per run, %d run(s) each\n",
               config.pipelined_calls, config.reps);
  for (const std::size_t window : config.windows) {
    // Fewer calls at window 1: it runs at round-trip speed.
    const std::size_t count = window == 1 ? config.pipelined_calls / 4 : config.pipelined_calls;
    std::vector<double> rates[2];
    for (int rep = 0; rep < config.reps; ++rep) {
      for (const bool raw : {true, false}) {
        Measurement m;
        if (raw) {
          m = measure(
              where, [&](int out) { serve_raw_ping_pong(out, sizes.reply, microseconds(0)); }, 1,
              [&](std::uint32_t server, const Gate& gate) {
                return timed(raw_pipelined_seconds({server, sizes.request, microseconds(0)},
                                                   [&] { gate.wait_open(); }, window, count),
                             count);
              });
        } else {
          m = measure(
              where, [&](int out) { serve_procslink_echo(out, microseconds(0)); }, 1,
              [&](std::uint32_t server, const Gate& gate) {
                RPCPeer client;
                const Channel channel = client.talk_to(server);
                // Warm up the pool and the code paths before timing.
                procslink_pipelined_seconds(channel, window, std::max<std::size_t>(count / 10, window));
                gate.wait_open();
                return timed(procslink_pipelined_seconds(channel, window, count), count);
              });
        }
        rates[raw].push_back(m.rate());
      }
    }
    add_row({"pipelined", std::to_string(window) + " in flight", where.name, "calls/s",
             median_of(rates[0]), median_of(rates[1]), false, 0.5, "async callbacks"});
  }
}

// ---- 3. large payloads ----

std::string size_name(std::size_t size) {
  if (size >= (1u << 20)) return std::to_string(size >> 20) + " MiB";
  return std::to_string(size >> 10) + " KiB";
}

void large_section(const Config& config, const Placement& where) {
  std::fprintf(stderr, "3. large payload echo: fragments of %zu bytes, %d run(s) each\n",
               config.fragment, config.reps);
  for (const auto& large : config.large) {
    std::vector<double> rates[2];
    for (int rep = 0; rep < config.reps; ++rep) {
      for (const bool raw : {true, false}) {
        Measurement m;
        if (raw) {
          m = measure(
              where, [&](int out) { serve_raw_bulk(out, large.size, config.fragment); }, 1,
              [&](std::uint32_t server, const Gate& gate) {
                return timed(raw_bulk_seconds(server, [&] { gate.wait_open(); }, large.size,
                                              config.fragment, large.repeats),
                             large.size * large.repeats);
              });
        } else {
          m = measure(
              where, [&](int out) { serve_procslink_echo(out, microseconds(0)); }, 1,
              [&](std::uint32_t server, const Gate& gate) {
                return timed(procslink_large_seconds(server, gate, large.size, large.repeats,
                                                     large.give_back),
                             large.size * large.repeats);
              });
        }
        rates[raw].push_back(m.rate() / 1e6);
      }
    }
    // Results are handed back, as the raw copy reuses its buffer; the row without shows what a
    // caller that keeps or frees each one gets (a fresh buffer, faulted in and zeroed, per call).
    add_row({"large echo", size_name(large.size) + (large.give_back ? "" : ", results not given back"),
             where.name, "MB/s", median_of(rates[0]), median_of(rates[1]), false,
             large.give_back ? std::optional<double>(1.0 / 3.0) : std::nullopt, ""});
  }
}

// ---- 4. scaling ----

void scaling_section(const Config& config, const Placement& where) {
  const EchoSizes sizes = echo_datagram_sizes();
  std::fprintf(stderr, "4. scaling: %.1f s per run, clients on CPU %d, server on CPU %d\n",
               config.scaling_seconds, where.client_cpu, where.server_cpu);
  const auto limit = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(config.scaling_seconds));
  constexpr std::size_t kUnbounded = std::size_t{1} << 40;
  for (const int clients : config.scaling_clients) {
    std::vector<double> rates[2], p99s[2];
    for (int rep = 0; rep < config.reps; ++rep) {
      for (const bool raw : {true, false}) {
        Measurement m;
        if (raw) {
          m = measure(
              where, [&](int out) { serve_raw_ping_pong(out, sizes.reply, microseconds(0)); },
              clients, [&](std::uint32_t server, const Gate& gate) {
                return raw_round_trips({server, sizes.request, microseconds(0)},
                                       [&] { gate.wait_open(); }, 0, kUnbounded, limit);
              });
        } else {
          m = measure(
              where, [&](int out) { serve_procslink_echo(out, microseconds(0)); }, clients,
              [&](std::uint32_t server, const Gate& gate) {
                return procslink_round_trips(server, microseconds(0), gate, 0, kUnbounded, limit);
              });
        }
        rates[raw].push_back(m.rate());
        p99s[raw].push_back(percentile(m.latencies_us, 0.99));
      }
    }
    const std::string what = std::to_string(clients) + (clients == 1 ? " client" : " clients");
    add_row({"scaling", what + ", total", where.name, "calls/s", median_of(rates[0]),
             median_of(rates[1]), false, std::nullopt, "one server, sync calls"});
    add_row({"scaling", what + ", p99", where.name, "us", median_of(p99s[0]), median_of(p99s[1]),
             true, std::nullopt, ""});
  }
}

// ---- 5. the Python reference ----

// A reference server exposing the demo's echo; it prints its nl_pid as its first line. The
// package has been published both as `procslink` and inside procszoo as `procszoo.ipc`.
const char* const kPythonReferenceServer = R"(
import sys
try:
    from procslink import RPCPeer
except ImportError:
    from procszoo.ipc import RPCPeer

def echo(value):
    return value

peer = RPCPeer()
peer.register_function(echo)
sys.stdout.write("%d\n" % peer.nl_pid)
sys.stdout.flush()
peer.run_server_forever()
)";

void python_section(const Config& config, const Placement& where) {
  const char* pyref = std::getenv("PROCSLINK_PYREF");
  if (pyref == nullptr || *pyref == '\0') {
    std::printf("5. Python reference: skipped (set PROCSLINK_PYREF to the directory that holds "
                "the reference package to compare with it)\n");
    return;
  }
  const EchoSizes sizes = echo_datagram_sizes();
  std::fprintf(stderr, "5. echo against the Python reference in %s\n", pyref);
  const std::size_t warmup = std::max<std::size_t>(200, config.echo_calls / 20);
  const std::size_t count = std::max<std::size_t>(config.echo_calls / 4, 500);
  // [0] the reference server, [1] raw netlink, [2] the C++ server, all with the same C++ client.
  std::vector<double> medians[3], p99s[3];
  auto keep = [&](int which, const Measurement& m) {
    medians[which].push_back(percentile(m.latencies_us, 0.5));
    p99s[which].push_back(percentile(m.latencies_us, 0.99));
  };
  for (int rep = 0; rep < config.reps; ++rep) {
    keep(1, measure(
                where, [&](int out) { serve_raw_ping_pong(out, sizes.reply, microseconds(0)); }, 1,
                [&](std::uint32_t server, const Gate& gate) {
                  return raw_round_trips({server, sizes.request, microseconds(0)},
                                         [&] { gate.wait_open(); }, warmup, count);
                }));
    keep(2, measure(
                where, [&](int out) { serve_procslink_echo(out, microseconds(0)); }, 1,
                [&](std::uint32_t server, const Gate& gate) {
                  return procslink_round_trips(server, microseconds(0), gate, warmup, count);
                }));
    Child python = Child::spawn([&](int out_fd) {
      pin_to_cpu(where.server_cpu);
      const std::string path = pyref;
      const char* old = std::getenv("PYTHONPATH");
      const std::string joined = old && *old ? path + ":" + old : path;
      ::setenv("PYTHONPATH", joined.c_str(), 1);
      ::dup2(out_fd, STDOUT_FILENO);
      ::execlp("python3", "python3", "-c", kPythonReferenceServer, static_cast<char*>(nullptr));
      std::perror("procslink_bench: exec python3");
      return 127;
    });
    const auto line = python.read_line(Clock::now() + std::chrono::seconds(20));
    if (!line || line->empty() || line->find_first_not_of("0123456789") != std::string::npos) {
      std::printf("5. Python reference: failed: the reference server in %s did not start "
                  "(see its error above)\n", pyref);
      g_failed = true;
      return;
    }
    const auto target = static_cast<std::uint32_t>(std::stoul(*line));
    keep(0, run_clients(1, where.client_cpu, [&](const Gate& gate) {
      return procslink_round_trips(target, microseconds(0), gate, warmup, count);
    }));
  }
  for (const auto& [stat, values] : {std::pair{"median", medians}, std::pair{"p99", p99s}}) {
    add_row({"python reference", std::string("Python server, ") + stat, where.name, "us",
             median_of(values[0]), median_of(values[1]), true, std::nullopt,
             "C++ client; reference / C++ server = " +
                 format_ratio(median_of(values[0]) / median_of(values[2]))});
    add_row({"python reference", std::string("C++ server, ") + stat, where.name, "us",
             median_of(values[2]), median_of(values[1]), true, std::nullopt, "same run"});
  }
}

// ---- main ----

std::string first_line_of(const char* path, const std::string& prefix = "") {
  std::ifstream file(path);
  std::string line;
  while (std::getline(file, line)) {
    if (line.rfind(prefix, 0) == 0) {
      const auto colon = line.find(':');
      return prefix.empty() || colon == std::string::npos ? line : line.substr(colon + 2);
    }
  }
  return "unknown";
}

void print_environment(const Config& config, const std::vector<Placement>& placements) {
  utsname u{};
  ::uname(&u);
  std::printf("procslink_bench %s mode (%s build)\n", config.quick ? "quick" : "full",
              PROCSLINK_BENCH_BUILD_TYPE);
  std::printf("kernel %s, %s, %d CPUs usable, load average at start %s\n", u.release,
              first_line_of("/proc/cpuinfo", "model name").c_str(), allowed_cpus(),
              first_line_of("/proc/loadavg").c_str());
  for (const auto& p : placements) {
    std::printf("placement %-10s client on CPU %d, server on CPU %d\n", p.name, p.client_cpu,
                p.server_cpu);
  }
  std::printf("raw netlink = plain NETLINK_USERSOCK sockets, same datagram sizes, one "
              "recvfrom per datagram, no JSON; spinning raw polls with MSG_DONTWAIT for the "
              "same %lld us budget, then blocks\n",
              static_cast<long long>(config.spin.count()));
  std::fflush(stdout);
}

std::vector<int> usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
    }
  }
  if (cpus.empty()) cpus.push_back(0);
  return cpus;
}

int run(int argc, char** argv) {
  Config config;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") {
      const std::string only = config.only;
      config = quick_config();
      config.only = only;
    } else if (arg.rfind("--only=", 0) == 0) {
      config.only = arg.substr(7);
    } else if (arg.rfind("--reps=", 0) == 0) {
      config.reps = std::max(1, std::atoi(arg.c_str() + 7));
    } else {
      std::printf("usage: procslink_bench [--quick] [--only=echo|throughput|large|scaling|python] "
                  "[--reps=N]\n");
      return arg == "--help" || arg == "-h" ? 0 : 2;
    }
  }
  set_log_level(LogLevel::error);

  const auto cpus = usable_cpus();
  std::vector<Placement> placements;
  if (cpus.size() >= 2) placements.push_back({"cross-core", cpus[0], cpus[1]});
  placements.push_back({"pinned", cpus[0], cpus[0]});
  const Placement& main_placement = placements.front();
  print_environment(config, placements);

  const auto begin = Clock::now();
  struct Section {
    const char* name;
    std::function<void()> body;
  };
  const std::vector<Section> sections{
      {"echo", [&] { echo_section(config, placements); }},
      {"throughput", [&] { throughput_section(config, main_placement); }},
      {"large", [&] { large_section(config, main_placement); }},
      {"scaling", [&] { scaling_section(config, main_placement); }},
      {"python", [&] { python_section(config, main_placement); }},
  };
  for (const auto& section : sections) {
    if (!config.only.empty() && config.only != section.name) continue;
    try {
      section.body();
    } catch (const std::exception& e) {
      std::printf("section %s failed: %s\n", section.name, e.what());
      g_failed = true;
    }
  }
  print_table();
  std::printf("\nratio = procslink / raw netlink, both measured in this run; for us lower is "
              "better, for calls/s and MB/s higher is better. Took %.0f s.\n",
              std::chrono::duration<double>(Clock::now() - begin).count());
  return g_failed ? 1 : 0;
}

}  // namespace
}  // namespace procslink::bench

int main(int argc, char** argv) {
  try {
    return procslink::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "procslink_bench: %s\n", e.what());
    return 1;
  }
}
