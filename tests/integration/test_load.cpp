// Load: many client processes, each making many calls, against one demo-server.
//
// Every reply must be the right one for its call (values unique per process and call), none
// may be lost, and the server's resident memory must stay flat. The counts come from the
// environment so CI runs a short version and a person can run the full one:
//
//   PROCSLINK_LOAD_PROCESSES=64 PROCSLINK_LOAD_CALLS=10000 build/tests/test_load
//
// (defaults: 16 processes x 1000 calls). The measured wall time, calls/s and RSS are printed.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "procslink/procslink.hpp"
#include "support/memory.hpp"
#include "support/process.hpp"

namespace procslink {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

long count_from_environment(const char* name, long fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  const long value = std::strtol(text, nullptr, 10);
  return value > 0 ? value : fallback;
}

using test::kRssGrowthBoundKib;
using test::rss_kib;

// What one client process reports through its pipe.
struct ClientReport {
  long correct = 0;    // replies equal to what the call asked for
  long wrong = 0;      // a reply, but not the right one
  long failed = 0;     // an exception instead of a reply
};

// Runs in a forked child: `calls` calls alternating echo and subtract, each with values unique
// to this process and call, so a reply delivered to the wrong caller or call cannot match.
ClientReport run_client(std::uint32_t server, long process, long calls) {
  ClientReport report;
  try {
    RPCPeer peer;
    const auto channel = peer.talk_to(server).with_timeout(30s);
    for (long k = 0; k < calls; ++k) {
      try {
        if (k % 2 == 0) {
          const json value = {{"process", process}, {"call", k}};
          (channel.call("echo", value) == value ? report.correct : report.wrong)++;
        } else {
          const long base = process * 1000000000L;
          (channel.call<long>("subtract", base + k, k) == base ? report.correct : report.wrong)++;
        }
      } catch (const std::exception& e) {
        if (report.failed++ == 0) std::fprintf(stderr, "client %ld call %ld: %s\n", process, k, e.what());
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "client %ld: %s\n", process, e.what());
    report.failed = calls - report.correct - report.wrong;
  }
  return report;
}

struct Client {
  pid_t pid = -1;
  int report_fd = -1;
};

TEST(Load, ManyClientProcessesGetEveryReplyRightAndServerMemoryStaysFlat) {
  const long processes = count_from_environment("PROCSLINK_LOAD_PROCESSES", 16);
  const long calls = count_from_environment("PROCSLINK_LOAD_CALLS", 1000);

  std::unique_ptr<test::ChildProcess> server_process;
  const std::uint32_t server = test::start_demo_server(server_process);
  {
    // Warm up: let the server's pool and buffers reach their working size before measuring.
    RPCPeer warmup;
    for (int i = 0; i < 200; ++i) ASSERT_EQ(warmup.talk_to(server).call("echo", i), i);
  }
  const long rss_before = rss_kib(server_process->pid());
  ASSERT_GT(rss_before, 0);

  // The test process has no threads here, so forking it is safe.
  std::fflush(nullptr);
  const auto start = Clock::now();
  std::vector<Client> clients;
  for (long p = 0; p < processes; ++p) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      const ClientReport report = run_client(server, p, calls);
      const bool written = ::write(fds[1], &report, sizeof report) == sizeof report;
      std::_Exit(written ? 0 : 1);
    }
    ::close(fds[1]);
    clients.push_back({pid, fds[0]});
  }

  ClientReport total;
  long exited_badly = 0;
  for (const Client& client : clients) {
    ClientReport report;
    const ssize_t n = ::read(client.report_fd, &report, sizeof report);  // EOF if it died
    ::close(client.report_fd);
    int status = 0;
    waitpid(client.pid, &status, 0);
    if (n != static_cast<ssize_t>(sizeof report) || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
      ++exited_badly;
      continue;
    }
    total.correct += report.correct;
    total.wrong += report.wrong;
    total.failed += report.failed;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const long rss_after = rss_kib(server_process->pid());

  const long expected = processes * calls;
  std::printf("load: %ld processes x %ld calls = %ld calls in %.2f s (%.0f calls/s); "
              "demo-server VmRSS %ld KiB before, %ld KiB after\n",
              processes, calls, expected, seconds, static_cast<double>(expected) / seconds,
              rss_before, rss_after);
  RecordProperty("calls", std::to_string(expected));
  RecordProperty("calls_per_second", std::to_string(static_cast<long>(expected / seconds)));
  RecordProperty("rss_before_kib", std::to_string(rss_before));
  RecordProperty("rss_after_kib", std::to_string(rss_after));

  EXPECT_EQ(exited_badly, 0) << "client processes that died or could not report";
  EXPECT_EQ(total.wrong, 0) << "replies that did not match their call";
  EXPECT_EQ(total.failed, 0) << "calls without a reply";
  EXPECT_EQ(total.correct, expected);
  // A generous bound: the pool may have grown a few threads, but nothing per call is kept.
  EXPECT_LT(rss_after - rss_before, kRssGrowthBoundKib) << "the server's memory grew under load";
  EXPECT_EQ(server_process->stop(SIGTERM), 0) << "demo-server did not shut down cleanly";
}

}  // namespace
}  // namespace procslink
