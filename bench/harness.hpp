// harness.hpp - the benchmark's process plumbing.
//
// Every measurement is real IPC between processes: servers and clients run in forked children
// pinned to a CPU, and a client hands what it measured back to the parent through a pipe. The
// parent never creates threads or peers itself, so forking it is always safe. Clients of one
// measurement are started together through a gate, so set-up time never counts.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace procslink::bench {

using Clock = std::chrono::steady_clock;

// Restricts the calling process (and the threads it creates afterwards) to one CPU.
// Throws std::system_error.
void pin_to_cpu(int cpu);
// How many CPUs this process may run on.
int allowed_cpus();

// What one client measured.
struct Measurement {
  std::uint64_t operations = 0;  // calls, messages or bytes, as the scenario defines
  double seconds = 0;
  std::vector<double> latencies_us;  // one per timed round trip, if the scenario keeps them

  double rate() const { return seconds > 0 ? static_cast<double>(operations) / seconds : 0; }
};

// Latency statistics over the samples (nearest-rank percentiles).
double percentile(std::vector<double> samples, double fraction);
// Where the nearest-rank percentile `fraction` of `count` sorted samples sits (count > 0).
std::size_t nearest_rank_index(std::size_t count, double fraction);

// The loop every echo client runs, whatever it talks through: `call` makes one round trip.
// Times each call after `warmup` untimed ones, until `count` are timed or `limit` has passed;
// `seconds` counts from the first call on.
template <typename Call>
Measurement time_round_trips(std::size_t warmup, std::size_t count, Clock::duration limit,
                             Call&& call) {
  Measurement m;
  // Reserved, not touched: pages fault in one per 512 samples, the same for every contender.
  m.latencies_us.reserve(std::min<std::size_t>(count, 1u << 22));
  const auto begin = Clock::now();
  const auto until = limit == Clock::duration::max() ? Clock::time_point::max() : begin + limit;
  for (std::size_t i = 0; i < warmup + count; ++i) {
    const auto start = Clock::now();
    if (start >= until) break;
    call();
    if (i >= warmup) {
      m.latencies_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
  }
  m.seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  m.operations = m.latencies_us.size();
  return m;
}

// A forked child process. Killed (SIGKILL) and reaped when it goes out of scope.
class Child {
 public:
  // Forks and runs `body` in the child with the write end of a pipe whose read end the parent
  // keeps; the child exits with body's return value (1 if it throws, after printing why).
  static Child spawn(const std::function<int(int out_fd)>& body);
  Child() = default;
  Child(Child&& other) noexcept;
  Child& operator=(Child&& other) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  pid_t pid() const { return pid_; }
  int out_fd() const { return out_fd_; }
  // Reads exactly `size` bytes from the child's pipe before `deadline`; false on EOF/timeout.
  bool read_exact(void* data, std::size_t size, Clock::time_point deadline) const;
  // Reads one line (without the newline) before `deadline`.
  std::optional<std::string> read_line(Clock::time_point deadline) const;
  // Reads everything up to end of file; nullopt if the deadline passes first.
  std::optional<std::string> read_to_end(Clock::time_point deadline) const;
  // Waits for the child to exit; returns its exit code (128+signal when killed).
  int wait();
  void kill_now();

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
};

// Writes all bytes to a pipe; throws std::system_error.
void write_all(int fd, const void* data, std::size_t size);

// A server child announces its nl_pid with this as its first message.
void announce_nl_pid(int out_fd, std::uint32_t nl_pid);
// Starts a server child pinned to `cpu`; returns it with the nl_pid it announced.
// Throws std::runtime_error if it does not announce one within a few seconds.
std::pair<Child, std::uint32_t> start_server(int cpu, const std::function<void(int out_fd)>& serve);

// Lets the clients of one measurement set up, then start at the same moment.
class Gate {
 public:
  // In the client: reports "ready" to the parent, then blocks until the parent opens the gate.
  void wait_open() const;

 private:
  friend Measurement run_clients(int, int, const std::function<Measurement(const Gate&)>&);
  int ready_fd_ = -1;
  int go_fd_ = -1;
};

// Runs `clients` client processes pinned to `cpu`, opens the gate once all are ready, and
// merges their measurements: operations and latency samples add up, seconds is the longest.
// Throws std::runtime_error naming the failure when a client fails.
Measurement run_clients(int clients, int cpu, const std::function<Measurement(const Gate&)>& body);

}  // namespace procslink::bench
