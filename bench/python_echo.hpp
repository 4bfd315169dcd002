// python_echo.hpp - a Python procslink package's half of the echo, run as bench/python_echo.py
// by /usr/bin/python3 in a forked child with the package's directory first on PYTHONPATH.
// procslink_bench uses it for the Python reference rows (PROCSLINK_PYREF); any package with the
// reference's API can be measured the same way by naming its directory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "harness.hpp"

namespace procslink::bench {

struct PythonPackage {
  std::string label;  // as the table names it, e.g. "Python reference"
  std::string dir;    // the directory that holds the package
};

// Starts the package's echo server pinned to `cpu`; returns it with its nl_pid.
// Throws std::runtime_error if it does not start (its own error is on stderr).
std::pair<Child, std::uint32_t> start_python_server(const PythonPackage& package, int cpu);

// Runs the package's client pinned to `cpu`: `warmup` untimed and `count` timed echoes of
// `payload` to `server`, each round trip timed in Python. Throws std::runtime_error if it fails.
Measurement python_round_trips(const PythonPackage& package, int cpu, std::uint32_t server,
                               std::size_t warmup, std::size_t count, const std::string& payload);

}  // namespace procslink::bench
