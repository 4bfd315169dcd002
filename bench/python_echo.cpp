// python_echo.cpp - starts bench/python_echo.py for a package and reads what it reports.
#include "python_echo.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace procslink::bench {
namespace {

constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kScript = PROCSLINK_BENCH_SOURCE_DIR "/python_echo.py";

// Forks a child pinned to `cpu` that runs the script with `args`, its stdout into the pipe the
// parent reads.
Child spawn_script(const PythonPackage& package, int cpu, std::vector<std::string> args) {
  return Child::spawn([&](int out_fd) {
    pin_to_cpu(cpu);
    const char* old = std::getenv("PYTHONPATH");
    const std::string path = old && *old ? package.dir + ":" + old : package.dir;
    ::setenv("PYTHONPATH", path.c_str(), 1);
    ::dup2(out_fd, STDOUT_FILENO);
    std::vector<char*> argv{const_cast<char*>(kPython), const_cast<char*>(kScript)};
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    ::execv(kPython, argv.data());
    std::perror("procslink_bench: exec /usr/bin/python3");
    return 127;
  });
}

}  // namespace

std::pair<Child, std::uint32_t> start_python_server(const PythonPackage& package, int cpu) {
  Child server = spawn_script(package, cpu, {"serve"});
  const auto line = server.read_line(Clock::now() + std::chrono::seconds(20));
  if (!line || line->empty() || line->find_first_not_of("0123456789") != std::string::npos) {
    throw std::runtime_error(package.label + " server from " + package.dir +
                             " did not start (see its error above)");
  }
  return {std::move(server), static_cast<std::uint32_t>(std::stoul(*line))};
}

Measurement python_round_trips(const PythonPackage& package, int cpu, std::uint32_t server,
                               std::size_t warmup, std::size_t count, const std::string& payload) {
  Child client = spawn_script(package, cpu,
                              {"call", std::to_string(server), std::to_string(warmup),
                               std::to_string(count), payload});
  const auto output = client.read_to_end(Clock::now() + std::chrono::minutes(5));
  if (!output) {
    throw std::runtime_error(package.label + " client from " + package.dir + " timed out");
  }
  const int code = client.wait();
  if (code != 0) {
    throw std::runtime_error(package.label + " client from " + package.dir + " failed (exit code " +
                             std::to_string(code) + "; see its error above)");
  }
  Measurement m;
  std::istringstream lines(*output);
  for (double us; lines >> us;) {
    m.latencies_us.push_back(us);
    m.seconds += us / 1e6;
  }
  m.operations = m.latencies_us.size();
  if (m.operations != count) {
    throw std::runtime_error(package.label + " client reported " + std::to_string(m.operations) +
                             " round trips, not " + std::to_string(count));
  }
  return m;
}

}  // namespace procslink::bench
