// process.hpp - test support: run the procslink CLI (or any program) as a real child process.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace procslink::test {

// The result of a finished command.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string read_all(int fd) {
  std::string text;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<std::size_t>(n));
  return text;
}

// Runs argv to completion, feeding `input` on stdin; captures stdout and stderr.
inline CommandResult run_command(const std::vector<std::string>& argv, const std::string& input = "") {
  char out_name[] = "/tmp/procslink-test-out-XXXXXX";
  char err_name[] = "/tmp/procslink-test-err-XXXXXX";
  char in_name[] = "/tmp/procslink-test-in-XXXXXX";
  const int out_fd = mkstemp(out_name), err_fd = mkstemp(err_name), in_fd = mkstemp(in_name);
  unlink(out_name);
  unlink(err_name);
  unlink(in_name);
  if (::write(in_fd, input.data(), input.size()) != static_cast<ssize_t>(input.size())) {
    throw std::runtime_error("cannot write test input");
  }
  lseek(in_fd, 0, SEEK_SET);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  lseek(out_fd, 0, SEEK_SET);
  lseek(err_fd, 0, SEEK_SET);
  result.out = read_all(out_fd);
  result.err = read_all(err_fd);
  close(out_fd);
  close(err_fd);
  close(in_fd);
  return result;
}

// The Python reference package, procslink 0.1.2, in ../shared beside the checkout (interop
// tests run it as a separate process; they skip when it is not there).
inline const std::string kReferencePackage =
    std::string(PROCSLINK_TEST_DATA) + "/../../shared/reference/procslink-0.1.2";

// Runs the procslink CLI with these arguments.
inline CommandResult procslink_cli(std::vector<std::string> args, const std::string& input = "") {
  args.insert(args.begin(), PROCSLINK_CLI);
  return run_command(args, input);
}

// A long-running child (a demo-server, possibly inside unshare) whose first stdout line is
// read at start. Killed with SIGTERM, then SIGKILL, when it goes out of scope.
class ChildProcess {
 public:
  explicit ChildProcess(const std::vector<std::string>& argv) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      setpgid(0, 0);  // its own process group, so the whole tree can be signalled
      dup2(out[1], 1);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
    setpgid(pid_, pid_);
    close(out[1]);
    out_ = fdopen(out[0], "r");
  }
  ~ChildProcess() { stop(SIGTERM); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The first line of stdout (a demo-server's nl_pid), without the newline; "" on EOF.
  std::string first_line() {
    char* line = nullptr;
    size_t cap = 0;
    const ssize_t n = getline(&line, &cap, out_);
    std::string text = n > 0 ? std::string(line, static_cast<std::size_t>(n)) : std::string();
    free(line);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return text;
  }
  // The rest of stdout until the child closes it.
  std::string rest_of_output() { return read_all(fileno(out_)); }

  pid_t pid() const { return pid_; }

  // Waits up to `limit` for the child to exit by itself; its exit code (as stop() gives it), or
  // nullopt if it still runs.
  std::optional<int> wait_for_exit(std::chrono::milliseconds limit) {
    if (pid_ <= 0) return exit_code_;
    int status = 0;
    for (const auto give_up = std::chrono::steady_clock::now() + limit;
         std::chrono::steady_clock::now() < give_up;) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) return finish(status);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return std::nullopt;
  }

  // Sends `signal` to the child's process group and waits for it; returns the exit code, or
  // 128 + signal number if killed. SIGKILLs it if it has not exited after 5 s.
  int stop(int signal = SIGTERM) {
    if (pid_ <= 0) return exit_code_;
    kill(-pid_, signal);
    int status = 0;
    for (int i = 0; i < 500; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) return finish(status);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(-pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    return finish(status);
  }

 private:
  int finish(int status) {
    pid_ = -1;
    if (out_) fclose(out_);
    out_ = nullptr;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return exit_code_;
  }
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  int exit_code_ = -1;
};

// Starts `procslink demo-server` with extra arguments, optionally behind a prefix such as
// {"unshare", "--pid", "--fork", ...}; returns the child and its nl_pid.
inline std::uint32_t start_demo_server(std::unique_ptr<ChildProcess>& child,
                                       std::vector<std::string> extra = {},
                                       std::vector<std::string> prefix = {}) {
  std::vector<std::string> argv = prefix;
  argv.push_back(PROCSLINK_CLI);
  argv.push_back("demo-server");
  argv.insert(argv.end(), extra.begin(), extra.end());
  child = std::make_unique<ChildProcess>(argv);
  const std::string line = child->first_line();
  if (line.empty()) throw std::runtime_error("demo-server did not print its nl_pid");
  return static_cast<std::uint32_t>(std::stoul(line));
}

inline bool running_as_root() { return geteuid() == 0; }

// True when `unshare` can create the given namespaces here (root, not blocked by a sandbox).
inline bool can_unshare(const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {"unshare"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.push_back("true");
  return run_command(argv).exit_code == 0;
}

}  // namespace procslink::test
