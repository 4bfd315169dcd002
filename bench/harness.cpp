#include "harness.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <system_error>

namespace procslink::bench {
namespace {

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

void close_quietly(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Waits until `fd` is readable or `deadline` passes.
bool wait_readable(int fd, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) throw_errno("poll");
  }
}

template <typename T>
void put(std::vector<char>& out, const T& value) {
  const char* p = reinterpret_cast<const char*>(&value);
  out.insert(out.end(), p, p + sizeof value);
}

}  // namespace

void pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) throw_errno("sched_setaffinity");
}

int allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  return CPU_COUNT(&set);
}

std::size_t nearest_rank_index(std::size_t count, double fraction) {
  const auto rank = static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(count)));
  return std::min(count - 1, rank == 0 ? 0 : rank - 1);
}

double percentile(std::vector<double> samples, double fraction) {
  if (samples.empty()) return NAN;
  const std::size_t index = nearest_rank_index(samples.size(), fraction);
  std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(index), samples.end());
  return samples[index];
}

void write_all(int fd, const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("write to parent");
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

Child Child::spawn(const std::function<int(int out_fd)>& body) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
  std::fflush(nullptr);  // or the child would print the parent's buffered output again
  const pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) {
    ::close(fds[0]);
    // A server loops forever: make sure it cannot outlive an interrupted benchmark.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int code = 1;
    try {
      code = body(fds[1]);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "procslink_bench: child %d failed: %s\n", ::getpid(), e.what());
    }
    std::fflush(nullptr);
    ::_exit(code);
  }
  ::close(fds[1]);
  Child child;
  child.pid_ = pid;
  child.out_fd_ = fds[0];
  return child;
}

Child::Child(Child&& other) noexcept : pid_(other.pid_), out_fd_(other.out_fd_) {
  other.pid_ = -1;
  other.out_fd_ = -1;
}

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    kill_now();
    pid_ = other.pid_;
    out_fd_ = other.out_fd_;
    other.pid_ = -1;
    other.out_fd_ = -1;
  }
  return *this;
}

Child::~Child() { kill_now(); }

void Child::kill_now() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_ = -1;
  close_quietly(out_fd_);
}

bool Child::read_exact(void* data, std::size_t size, Clock::time_point deadline) const {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    if (!wait_readable(out_fd_, deadline)) return false;
    const ssize_t n = ::read(out_fd_, p, size);
    if (n == 0) return false;
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read from child");
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

std::optional<std::string> Child::read_line(Clock::time_point deadline) const {
  std::string line;
  char c;
  while (read_exact(&c, 1, deadline)) {
    if (c == '\n') return line;
    line.push_back(c);
  }
  return std::nullopt;
}

std::optional<std::string> Child::read_to_end(Clock::time_point deadline) const {
  std::string text;
  char chunk[4096];
  for (;;) {
    if (!wait_readable(out_fd_, deadline)) return std::nullopt;
    const ssize_t n = ::read(out_fd_, chunk, sizeof chunk);
    if (n == 0) return text;
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read from child");
    }
    text.append(chunk, static_cast<std::size_t>(n));
  }
}

int Child::wait() {
  if (pid_ <= 0) return -1;
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) throw_errno("waitpid");
  }
  pid_ = -1;
  close_quietly(out_fd_);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void announce_nl_pid(int out_fd, std::uint32_t nl_pid) { write_all(out_fd, &nl_pid, sizeof nl_pid); }

std::pair<Child, std::uint32_t> start_server(int cpu, const std::function<void(int out_fd)>& serve) {
  Child child = Child::spawn([&](int out_fd) {
    pin_to_cpu(cpu);
    serve(out_fd);
    return 0;
  });
  std::uint32_t nl_pid = 0;
  if (!child.read_exact(&nl_pid, sizeof nl_pid, Clock::now() + std::chrono::seconds(10))) {
    throw std::runtime_error("server child did not start (see its message above)");
  }
  return {std::move(child), nl_pid};
}

void Gate::wait_open() const {
  const char ready = 'R';
  write_all(ready_fd_, &ready, 1);
  char c;
  // The parent opens the gate by closing the last write end: read returns 0 for everybody.
  while (::read(go_fd_, &c, 1) < 0 && errno == EINTR) {
  }
}

Measurement run_clients(int clients, int cpu, const std::function<Measurement(const Gate&)>& body) {
  int go[2];
  if (::pipe2(go, O_CLOEXEC) != 0) throw_errno("pipe2");
  std::vector<Child> children;
  try {
    for (int i = 0; i < clients; ++i) {
      children.push_back(Child::spawn([&](int out_fd) {
        ::close(go[1]);
        pin_to_cpu(cpu);
        Gate gate;
        gate.ready_fd_ = out_fd;
        gate.go_fd_ = go[0];
        const Measurement m = body(gate);
        std::vector<char> out;
        put(out, m.operations);
        put(out, m.seconds);
        put(out, static_cast<std::uint64_t>(m.latencies_us.size()));
        for (double l : m.latencies_us) put(out, l);
        write_all(out_fd, out.data(), out.size());
        return 0;
      }));
    }
  } catch (...) {
    ::close(go[0]);
    ::close(go[1]);
    throw;
  }
  ::close(go[0]);
  const auto setup_deadline = Clock::now() + std::chrono::seconds(30);
  for (auto& child : children) {
    char ready = 0;
    if (!child.read_exact(&ready, 1, setup_deadline) || ready != 'R') {
      ::close(go[1]);
      throw std::runtime_error("a client child failed while setting up (see its message above)");
    }
  }
  ::close(go[1]);  // opens the gate

  Measurement total;
  const auto run_deadline = Clock::now() + std::chrono::minutes(5);
  for (auto& child : children) {
    Measurement m;
    std::uint64_t count = 0;
    bool ok = child.read_exact(&m.operations, sizeof m.operations, run_deadline) &&
              child.read_exact(&m.seconds, sizeof m.seconds, run_deadline) &&
              child.read_exact(&count, sizeof count, run_deadline);
    if (ok) {
      m.latencies_us.resize(count);
      ok = count == 0 || child.read_exact(m.latencies_us.data(), count * sizeof(double), run_deadline);
    }
    const int code = child.wait();
    if (!ok || code != 0) {
      throw std::runtime_error("a client child failed (exit code " + std::to_string(code) +
                               "; see its message above)");
    }
    total.operations += m.operations;
    total.seconds = std::max(total.seconds, m.seconds);
    total.latencies_us.insert(total.latencies_us.end(), m.latencies_us.begin(), m.latencies_us.end());
  }
  return total;
}

}  // namespace procslink::bench
