// procslink_bench: what procslink costs over raw netlink, and over what a user might pick
// instead, measured side by side.
//
// Every figure is printed next to a raw-netlink baseline measured in the same run, on the same
// CPUs, with datagrams of the same sizes (see raw_netlink.hpp), and as the ratio of the two.
// Servers and clients are separate processes. "cross-core" pins the client to one CPU and the
// server to another; "pinned" puts both on the same CPU, so every round trip is two context
// switches. The blocking echo also runs through the other peers of echo_peers.hpp (AF_UNIX
// seqpacket, and sd-bus and gRPC when built), and through Python packages: the reference (with
// PROCSLINK_PYREF) and this build's binding, whose overhead over raw netlink is set against the
// reference's.
//
//   procslink_bench                 the full run (a few minutes)
//   procslink_bench --quick         small counts, for smoke testing (ctest runs this)
//   procslink_bench --record=DIR    also writes the CSV files bench/plot.py draws (record.hpp)
#include <sched.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "echo_peers.hpp"
#include "harness.hpp"
#include "procslink_side.hpp"
#include "python_echo.hpp"
#include "raw_netlink.hpp"
#include "record.hpp"
#include "report.hpp"

namespace procslink::bench {
namespace {

using std::chrono::microseconds;

// ---- configuration ----

struct Config {
  bool quick = false;
  std::string only;  // run one section: echo, throughput, large, scaling, python
  std::string record_dir;
  int reps = 3;      // the contenders alternate this many times; the median rep is reported
  std::size_t echo_calls = 20000;
  std::size_t pipelined_calls = 60000;
  std::vector<std::size_t> windows{1, 4, 16, 64, 256};
  struct Large {
    std::size_t size;
    std::size_t repeats;
    bool give_back = true;  // the caller hands each result back (RPCPeer::give_back)
  };
  // Enough repeats that each run lasts tens of milliseconds, after large_warmup untimed echoes
  // on both sides: the first echoes into a buffer cost its first touches (docs/performance.md,
  // large echo), and a run of a few echoes would measure mostly those.
  std::size_t large_warmup = 8;
  std::vector<Large> large{{4u << 10, 2000}, {64u << 10, 400},  {1u << 20, 200},
                           {16u << 20, 12},  {64u << 20, 4},    {64u << 20, 4, false}};
  std::vector<int> scaling_clients{1, 8, 64};
  double scaling_seconds = 2.0;
  microseconds spin{50};
  std::size_t fragment = procslink_fragment_size();
};

Config quick_config() {
  Config c;
  c.quick = true;
  c.reps = 1;
  c.echo_calls = 1500;
  c.pipelined_calls = 3000;
  c.windows = {1, 16, 256};
  c.large = {{64u << 10, 20}, {1u << 20, 4}, {64u << 20, 1}, {64u << 20, 1, false}};
  c.large_warmup = 1;
  c.scaling_seconds = 0.3;
  return c;
}

struct Placement {
  const char* name;
  int client_cpu;
  int server_cpu;

  bool shared() const { return client_cpu == server_cpu; }
};

// What every section gets.
struct Context {
  const Config& config;
  Report& report;
  Recorder& recorder;
};

double median_of(std::vector<double> values) { return percentile(std::move(values), 0.5); }

// One contender's round trips over the reps: each rep's median and p99, and every sample.
struct Tally {
  std::vector<double> medians, p99s, samples;

  void add(const Measurement& m) {
    medians.push_back(percentile(m.latencies_us, 0.5));
    p99s.push_back(percentile(m.latencies_us, 0.99));
    samples.insert(samples.end(), m.latencies_us.begin(), m.latencies_us.end());
  }
  double median() const { return median_of(medians); }
  double p99() const { return median_of(p99s); }
  // The median over the reps of this contender's median minus `base`'s in the same rep.
  double median_over(const Tally& base) const {
    std::vector<double> differences;
    for (std::size_t i = 0; i < medians.size() && i < base.medians.size(); ++i) {
      differences.push_back(medians[i] - base.medians[i]);
    }
    return median_of(std::move(differences));
  }
};

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

// The same for another peer: its server and client joined by the link it asks for.
Measurement measure(const Placement& where, const EchoPeer& peer, std::size_t warmup,
                    std::size_t count) {
  const Link link = peer.link();
  auto server = start_server(where.server_cpu, [&](int out) { peer.serve(link, out); });
  return run_clients(1, where.client_cpu, [&](const Gate& gate) {
    return peer.round_trips(link, gate, warmup, count);
  });
}

Measurement timed(double seconds, std::uint64_t operations) {
  Measurement m;
  m.seconds = seconds;
  m.operations = operations;
  return m;
}

Measurement raw_echo(const Placement& where, const EchoWork& work, microseconds spin,
                     std::size_t warmup, std::size_t count) {
  return measure(
      where, [&](int out) { serve_raw_ping_pong(out, work.reply_size, spin); }, 1,
      [&](std::uint32_t server, const Gate& gate) {
        return raw_round_trips({server, work.request_size, spin}, [&] { gate.wait_open(); },
                               warmup, count);
      });
}

Measurement procslink_echo(const Placement& where, microseconds spin, std::size_t warmup,
                           std::size_t count) {
  return measure(
      where, [&](int out) { serve_procslink_echo(out, spin); }, 1,
      [&](std::uint32_t server, const Gate& gate) {
        return procslink_round_trips(server, spin, gate, warmup, count);
      });
}

// ---- 1. echo round trip ----

const char* const kRawDescription =
    "two plain NETLINK_USERSOCK sockets exchanging datagrams of procslink's request and reply "
    "sizes, one sendmsg and one recvmsg per datagram, buffers made once; no JSON, credentials, "
    "threads or epoll";
const char* const kProcslinkDescription =
    "an RPCPeer serving the demo's echo, called with Channel::call: JSON-RPC 2.0 in netlink "
    "datagrams, with credentials";

// Something the echo section times: raw netlink, procslink, or another peer.
struct Contender {
  std::string name;
  std::function<Measurement(std::size_t warmup, std::size_t count)> run;
};

// Adds the echo rows of one placement and mode: procslink against raw (with the targets), and,
// blocking, every contender in the peer table.
void report_echo(const Context& ctx, const Placement& where, bool spinning,
                 const std::vector<Contender>& contenders, const std::vector<Tally>& tallies) {
  const Tally& raw = tallies[0];
  const Tally& procslink = tallies[1];
  const std::string mode =
      spinning ? "spin " + std::to_string(ctx.config.spin.count()) + " us" : "blocking";
  // Two spinners sharing one CPU mostly measure the scheduler's time slice: no target.
  const bool shared_spin = spinning && where.shared();
  std::optional<double> median_target, p99_target;
  if (!spinning) median_target = where.shared() ? 1.15 : 1.1;
  if (spinning && !shared_spin) {
    median_target = 1.2;
    p99_target = 2.0;
  }
  ctx.report.add(Row{"echo", mode + ", median", where.name, "us", procslink.median(),
                     raw.median(), true, median_target,
                     shared_spin ? "both sides spin on one CPU" : ""});
  ctx.report.add(Row{"echo", mode + ", p99", where.name, "us", procslink.p99(), raw.p99(), true,
                     p99_target, ""});
  for (std::size_t i = 0; i < contenders.size(); ++i) {
    ctx.recorder.latency(contenders[i].name, where.name, mode, tallies[i].samples);
    if (spinning) continue;
    ctx.report.add(PeerRow{contenders[i].name, where.name, tallies[i].median(), tallies[i].p99(),
                           raw.median(), raw.p99(), procslink.median()});
  }
}

void echo_section(const Context& ctx, const std::vector<Placement>& placements) {
  const Config& config = ctx.config;
  const EchoWork work = procslink_echo_work();
  std::vector<std::string> skipped;
  const std::vector<EchoPeer> peers = other_echo_peers(work, skipped);
  ctx.report.describe("raw netlink", kRawDescription);
  ctx.report.describe("procslink", kProcslinkDescription);
  for (const auto& peer : peers) ctx.report.describe(peer.name, peer.description);
  for (const auto& line : skipped) {
    std::printf("1. echo: row skipped: %s\n", line.c_str());
    ctx.report.skipped("skipped: " + line);
  }
  std::fprintf(stderr,
               "1. echo round trip: %zu calls per run, %d run(s) each; datagrams %zu and %zu bytes\n",
               config.echo_calls, config.reps, work.request_size, work.reply_size);
  const std::size_t warmup = std::max<std::size_t>(200, config.echo_calls / 20);
  for (const bool spinning : {false, true}) {
    const microseconds spin = spinning ? config.spin : microseconds(0);
    for (const auto& where : placements) {
      std::vector<Contender> contenders{
          {"raw netlink", [&](auto w, auto n) { return raw_echo(where, work, spin, w, n); }},
          {"procslink", [&](auto w, auto n) { return procslink_echo(where, spin, w, n); }}};
      // The other peers have no spin mode of their own: they run blocking only.
      for (const auto& peer : peers) {
        if (spinning) break;
        contenders.push_back({peer.name, [&](auto w, auto n) { return measure(where, peer, w, n); }});
      }
      std::vector<Tally> tallies(contenders.size());
      for (int rep = 0; rep < config.reps; ++rep) {
        for (std::size_t i = 0; i < contenders.size(); ++i) {
          try {
            tallies[i].add(contenders[i].run(warmup, config.echo_calls));
          } catch (const std::exception& e) {
            if (i < 2) throw;  // without raw netlink and procslink there is nothing to show
            // Another peer that fails loses its row (n/a) and fails the run, not the section.
            std::printf("1. echo: %s failed: %s\n", contenders[i].name.c_str(), e.what());
            ctx.report.fail();
            tallies[i].add(Measurement{});
          }
        }
      }
      report_echo(ctx, where, spinning, contenders, tallies);
    }
  }
}

// ---- 2. pipelined throughput ----

void throughput_section(const Context& ctx, const Placement& where) {
  const Config& config = ctx.config;
  const EchoWork work = procslink_echo_work();
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
              where, [&](int out) { serve_raw_ping_pong(out, work.reply_size, microseconds(0)); }, 1,
              [&](std::uint32_t server, const Gate& gate) {
                return timed(raw_pipelined_seconds({server, work.request_size, microseconds(0)},
                                                   [&] { gate.wait_open(); }, window, count),
                             count);
              });
        } else {
          m = measure(
              where, [&](int out) { serve_procslink_echo(out, microseconds(0)); }, 1,
              [&](std::uint32_t server, const Gate& gate) {
                return timed(procslink_pipelined_seconds(server, gate, window, count), count);
              });
        }
        rates[raw].push_back(m.rate());
      }
    }
    std::optional<double> target;
    if (window == 16 || window == 256) target = 0.8;
    if (window == 1) target = 0.5;
    ctx.report.add(Row{"pipelined", std::to_string(window) + " in flight", where.name, "calls/s",
                       median_of(rates[0]), median_of(rates[1]), false, target,
                       "async callbacks"});
    ctx.recorder.throughput("in flight", "procslink", where.name, static_cast<double>(window),
                            "calls/s", median_of(rates[0]));
    ctx.recorder.throughput("in flight", "raw netlink", where.name, static_cast<double>(window),
                            "calls/s", median_of(rates[1]));
  }
}

// ---- 3. large payloads ----

std::string size_name(std::size_t size) {
  if (size >= (1u << 20)) return std::to_string(size >> 20) + " MiB";
  return std::to_string(size >> 10) + " KiB";
}

void large_section(const Context& ctx, const Placement& where) {
  const Config& config = ctx.config;
  std::fprintf(stderr, "3. large payload echo: fragments of %zu bytes, %d run(s) each\n",
               config.fragment, config.reps);
  // Raw netlink that also scans each fragment once on each side, as procslink's checks do:
  // the bound for a peer that checks what it reads and writes (the rows' note).
  const auto raw_bulk = [&](const Config::Large& large, bool check) {
    return measure(
        where, [&](int out) { serve_raw_bulk(out, large.size, config.fragment, check); }, 1,
        [&](std::uint32_t server, const Gate& gate) {
          return timed(raw_bulk_seconds(server, [&] { gate.wait_open(); }, large.size,
                                        config.fragment, config.large_warmup, large.repeats,
                                        check),
                       large.size * large.repeats);
        });
  };
  for (const auto& large : config.large) {
    std::vector<double> rates[2], checked_rates;
    for (int rep = 0; rep < config.reps; ++rep) {
      for (const bool raw : {true, false}) {
        Measurement m;
        if (raw) {
          m = raw_bulk(large, false);
        } else {
          m = measure(
              where, [&](int out) { serve_procslink_echo(out, microseconds(0)); }, 1,
              [&](std::uint32_t server, const Gate& gate) {
                return timed(procslink_large_seconds(server, gate, large.size,
                                                     config.large_warmup, large.repeats,
                                                     large.give_back),
                             large.size * large.repeats);
              });
        }
        rates[raw].push_back(m.rate() / 1e6);
      }
      if (large.give_back) checked_rates.push_back(raw_bulk(large, true).rate() / 1e6);
    }
    std::string note;
    if (large.give_back) {
      char text[64];
      std::snprintf(text, sizeof text, "raw netlink checking each fragment: %.2fx",
                    median_of(checked_rates) / median_of(rates[1]));
      note = text;
    }
    // Results are handed back, as the raw copy reuses its buffer; the row without shows what a
    // caller that keeps or frees each one gets (a fresh buffer, faulted in and zeroed, per call).
    std::optional<double> target;
    if (large.give_back && large.size == (64u << 10)) target = 1.0 / 3.0;
    if (large.give_back && (large.size == (1u << 20) || large.size == (64u << 20))) target = 0.7;
    ctx.report.add(Row{"large echo",
                       size_name(large.size) + (large.give_back ? "" : ", results not given back"),
                       where.name, "MB/s", median_of(rates[0]), median_of(rates[1]), false, target,
                       note});
    const auto x = static_cast<double>(large.size);
    ctx.recorder.throughput("size", large.give_back ? "procslink" : "procslink, results not given back",
                            where.name, x, "MB/s", median_of(rates[0]));
    if (large.give_back) {
      ctx.recorder.throughput("size", "raw netlink", where.name, x, "MB/s", median_of(rates[1]));
    }
  }
}

// ---- 4. scaling ----

void scaling_section(const Context& ctx, const Placement& where) {
  const Config& config = ctx.config;
  const EchoWork work = procslink_echo_work();
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
              where, [&](int out) { serve_raw_ping_pong(out, work.reply_size, microseconds(0)); },
              clients, [&](std::uint32_t server, const Gate& gate) {
                return raw_round_trips({server, work.request_size, microseconds(0)},
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
    const bool many = clients == 64;
    const std::string what = std::to_string(clients) + (clients == 1 ? " client" : " clients");
    ctx.report.add(Row{"scaling", what + ", total", where.name, "calls/s", median_of(rates[0]),
                       median_of(rates[1]), false, many ? std::optional(0.9) : std::nullopt,
                       "one server, sync calls"});
    ctx.report.add(Row{"scaling", what + ", p99", where.name, "us", median_of(p99s[0]),
                       median_of(p99s[1]), true, many ? std::optional(1.3) : std::nullopt, ""});
    ctx.recorder.throughput("clients", "procslink", where.name, clients, "calls/s",
                            median_of(rates[0]));
    ctx.recorder.throughput("clients", "raw netlink", where.name, clients, "calls/s",
                            median_of(rates[1]));
  }
}

// ---- 5. Python packages ----

// The echo through a Python package, in every pairing with procslink's C++ side, beside raw
// netlink and procslink's C++ server and client from the same runs. Returns the tallies of raw
// netlink and of the package's client and server pair.
std::pair<Tally, Tally> python_rows(const Context& ctx, const Placement& where,
                                    const PythonPackage& package) {
  const Config& config = ctx.config;
  const EchoWork work = procslink_echo_work();
  const std::size_t warmup = std::max<std::size_t>(200, config.echo_calls / 20);
  const std::size_t count = std::max<std::size_t>(config.echo_calls / 4, 500);
  std::fprintf(stderr, "5. echo through the %s in %s, %s: %zu calls per run\n",
               package.label.c_str(), package.dir.c_str(), where.name, count);
  const std::vector<Contender> contenders{
      {"raw netlink", [&](auto w, auto n) { return raw_echo(where, work, microseconds(0), w, n); }},
      {"procslink", [&](auto w, auto n) { return procslink_echo(where, microseconds(0), w, n); }},
      {package.label + " server, C++ procslink client",
       [&](auto w, auto n) {
         auto [server, nl_pid] = start_python_server(package, where.server_cpu);
         const std::uint32_t target = nl_pid;
         return run_clients(1, where.client_cpu, [&](const Gate& gate) {
           return procslink_round_trips(target, microseconds(0), gate, w, n);
         });
       }},
      {package.label + " client, C++ procslink server",
       [&](auto w, auto n) {
         auto [server, nl_pid] =
             start_server(where.server_cpu, [](int out) { serve_procslink_echo(out, microseconds(0)); });
         return python_round_trips(package, where.client_cpu, nl_pid, w, n, kSmallPayload);
       }},
      {package.label + " client and server", [&](auto w, auto n) {
         auto [server, nl_pid] = start_python_server(package, where.server_cpu);
         return python_round_trips(package, where.client_cpu, nl_pid, w, n, kSmallPayload);
       }}};
  std::vector<Tally> tallies(contenders.size());
  for (int rep = 0; rep < config.reps; ++rep) {
    for (std::size_t i = 0; i < contenders.size(); ++i) tallies[i].add(contenders[i].run(warmup, count));
  }
  for (std::size_t i = 2; i < contenders.size(); ++i) {
    ctx.recorder.latency(contenders[i].name, where.name, "blocking", tallies[i].samples);
    ctx.report.add(PeerRow{contenders[i].name, where.name, tallies[i].median(), tallies[i].p99(),
                           tallies[0].median(), tallies[0].p99(), tallies[1].median()});
  }
  ctx.report.describe(package.label,
                      "the package in " + package.dir + ", run by /usr/bin/python3 with "
                      "bench/python_echo.py (its RPCPeer serving echo, or calling it through "
                      "talk_to); its client times each call in Python");
  return {tallies[0], tallies.back()};
}

// The Python packages to compare: the reference (PROCSLINK_PYREF) and this build's binding
// (PROCSLINK_PYTHON_PACKAGE, by default the build tree's python/ directory).
std::vector<PythonPackage> python_packages(const Context& ctx) {
  std::vector<PythonPackage> packages;
  const char* pyref = std::getenv("PROCSLINK_PYREF");
  if (pyref != nullptr && *pyref != '\0') {
    packages.push_back({"Python reference", pyref});
  } else {
    const char* line = "Python reference: skipped (set PROCSLINK_PYREF to the directory that "
                       "holds the reference package; scripts/bench sets it to "
                       "../shared/reference/procslink-0.1.2 when that is there)";
    std::printf("5. %s\n", line);
    ctx.report.skipped(line);
  }
  const char* ours = std::getenv("PROCSLINK_PYTHON_PACKAGE");
  const std::string dir = ours != nullptr && *ours != '\0' ? ours : PROCSLINK_BENCH_PYTHON_DIR;
  if (!dir.empty() && std::ifstream(dir + "/procslink/__init__.py").good()) {
    packages.push_back({"Python binding", dir});
  } else {
    const std::string line = "Python binding: skipped (no procslink package in '" + dir +
                             "'; build with PROCSLINK_PYTHON=ON or set PROCSLINK_PYTHON_PACKAGE)";
    std::printf("5. %s\n", line.c_str());
    ctx.report.skipped(line);
  }
  return packages;
}

void python_section(const Context& ctx, const std::vector<Placement>& placements) {
  const std::vector<PythonPackage> packages = python_packages(ctx);
  for (const auto& where : placements) {
    std::vector<std::pair<Tally, Tally>> pairs;
    for (const auto& package : packages) pairs.push_back(python_rows(ctx, where, package));
    if (pairs.size() != 2) continue;
    // The binding's overhead over the kernel against the reference's, each from its own runs.
    const auto& [reference_raw, reference] = pairs[0];
    const auto& [binding_raw, binding] = pairs[1];
    ctx.report.add(OverheadRow{"Python binding pair", "Python reference pair", where.name,
                               binding.median(), binding_raw.median(),
                               binding.median_over(binding_raw), reference.median(),
                               reference_raw.median(), reference.median_over(reference_raw), 0.2});
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
  std::printf("raw netlink = plain NETLINK_USERSOCK sockets, same datagram sizes, one sendmsg "
              "and one recvmsg per datagram, buffers made once, no JSON; bulk: the same "
              "fragments scattered straight into place, buffers on huge pages where allowed; "
              "spinning raw polls with MSG_DONTWAIT for the same %lld us budget, then blocks\n",
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

// Reads the command line; nullopt after printing the usage (`exit_code` says how to exit).
std::optional<Config> parse_arguments(int argc, char** argv, int& exit_code) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  // --quick first: it sets the counts the other options may then change.
  Config config = std::find(args.begin(), args.end(), "--quick") != args.end() ? quick_config()
                                                                                : Config{};
  for (const auto& arg : args) {
    if (arg == "--quick") continue;
    if (arg.rfind("--only=", 0) == 0) {
      config.only = arg.substr(7);
    } else if (arg.rfind("--reps=", 0) == 0) {
      config.reps = std::max(1, std::atoi(arg.c_str() + 7));
    } else if (arg.rfind("--record=", 0) == 0) {
      config.record_dir = arg.substr(9);
    } else {
      std::printf("usage: procslink_bench [--quick] [--only=echo|throughput|large|scaling|python] "
                  "[--reps=N] [--record=DIR]\n");
      exit_code = arg == "--help" || arg == "-h" ? 0 : 2;
      return std::nullopt;
    }
  }
  return config;
}

int run(int argc, char** argv) {
  int exit_code = 0;
  const std::optional<Config> parsed = parse_arguments(argc, argv, exit_code);
  if (!parsed) return exit_code;
  const Config& config = *parsed;
  quiet_procslink_log();

  const auto cpus = usable_cpus();
  std::vector<Placement> placements;
  if (cpus.size() >= 2) placements.push_back({"cross-core", cpus[0], cpus[1]});
  placements.push_back({"pinned", cpus[0], cpus[0]});
  const Placement& main_placement = placements.front();
  print_environment(config, placements);

  Report report;
  Recorder recorder(config.record_dir);
  const Context ctx{config, report, recorder};
  const auto begin = Clock::now();
  struct Section {
    const char* name;
    std::function<void()> body;
  };
  const std::vector<Section> sections{
      {"echo", [&] { echo_section(ctx, placements); }},
      {"throughput", [&] { throughput_section(ctx, main_placement); }},
      {"large", [&] { large_section(ctx, main_placement); }},
      {"scaling", [&] { scaling_section(ctx, main_placement); }},
      {"python", [&] { python_section(ctx, placements); }},
  };
  for (const auto& section : sections) {
    if (!config.only.empty() && config.only != section.name) continue;
    try {
      section.body();
    } catch (const std::exception& e) {
      std::printf("section %s failed: %s\n", section.name, e.what());
      report.fail();
    }
  }
  report.print();
  std::printf("\nratio = procslink (or the named contender) / raw netlink, measured in the same "
              "run; for us lower is better, for calls/s and MB/s higher is better. Took %.0f s.\n",
              std::chrono::duration<double>(Clock::now() - begin).count());
  return report.failed() ? 1 : 0;
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
