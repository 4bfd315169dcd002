// Low-latency mode (PeerOptions::spin): serving and calling while busy-polling must keep every
// guarantee of the blocking mode: correct replies, no caller held up by a slow handler, stop().
#include <gtest/gtest.h>
#include <sched.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "procslink/procslink.hpp"
#include "support/process.hpp"

namespace procslink {
namespace {

using namespace std::chrono_literals;

PeerOptions spinning(std::size_t workers = 0) {
  PeerOptions options;
  options.spin = std::chrono::microseconds(50);
  options.workers = workers;
  return options;
}

TEST(SpinningPeer, AnswersManyCallsCorrectly) {
  RPCPeer server(spinning());
  server.register_function("echo", [](const json& v) { return v; });
  server.start();
  RPCPeer client(spinning());
  auto channel = client.talk_to(server.nl_pid());
  for (int i = 0; i < 2000; ++i) ASSERT_EQ(channel.call<int>("echo", i), i);
}

TEST(SpinningPeer, SlowHandlerDoesNotHoldUpOtherCallers) {
  for (const auto& [workers, takeover] : {std::pair{1u, 200us}, std::pair{2u, 200us},
                                          std::pair{2u, 2000us}}) {
    SCOPED_TRACE("workers " + std::to_string(workers) + ", takeover " +
                 std::to_string(takeover.count()) + " us");
    PeerOptions options = spinning(workers);
    options.spin_takeover = takeover;
    RPCPeer server(options);
    server.register_function("sleep", [](int ms) {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      return ms;
    });
    server.register_function("echo", [](const json& v) { return v; });
    server.start();
    RPCPeer slow_client;
    auto slow = slow_client.talk_to(server.nl_pid()).async_call("sleep", 3000);
    // Give the sleep a head start so it is the handler occupying the spinning thread.
    std::this_thread::sleep_for(100ms);
    RPCPeer client(spinning());
    EXPECT_EQ(client.talk_to(server.nl_pid()).call<std::string>("echo", "fast"), "fast");
    // The ordering is the assertion: the echo was answered while the sleep was still running.
    EXPECT_EQ(slow.wait_for(0s), std::future_status::timeout);
    EXPECT_EQ(slow.get(), 3000);
  }
}

// Pins the calling thread, and the threads it starts from then on, to one of the CPUs it may
// run on; puts the old set back when it goes.
class OnOneCpu {
 public:
  OnOneCpu() {
    if (sched_getaffinity(0, sizeof before_, &before_) != 0) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &before_)) {
        CPU_SET(cpu, &one);
        break;
      }
    }
    pinned_ = sched_setaffinity(0, sizeof one, &one) == 0;
  }
  ~OnOneCpu() {
    if (pinned_) sched_setaffinity(0, sizeof before_, &before_);
  }
  OnOneCpu(const OnOneCpu&) = delete;
  OnOneCpu& operator=(const OnOneCpu&) = delete;
  bool pinned() const { return pinned_; }

 private:
  cpu_set_t before_{};
  bool pinned_ = false;
};

// The spin watch runs at the lowest priority: with every serving thread on one CPU, busy in a
// handler that never sleeps, it must still get its look, and a parked thread must take over.
TEST(SpinningPeer, HandlerThatNeverSleepsOnOneCpuDoesNotHoldUpOtherCallers) {
  const OnOneCpu pin;
  ASSERT_TRUE(pin.pinned());
  // Two threads and no more: the one that does not spin is parked before the handler starts,
  // and only the spin watch wakes it.
  PeerOptions options = spinning(2);
  options.max_workers = 2;
  options.max_workers_per_uid = 2;
  RPCPeer server(options);
  server.register_function("busy", [](int ms) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < end) {
    }
    return ms;
  });
  server.register_function("echo", [](const json& v) { return v; });
  server.start();
  RPCPeer client;
  const Channel channel = client.talk_to(server.nl_pid());
  for (int i = 0; i < 100; ++i) ASSERT_EQ(channel.call<int>("echo", i), i);
  RPCPeer slow_client;
  auto slow = slow_client.talk_to(server.nl_pid()).async_call("busy", 4000);
  std::this_thread::sleep_for(100ms);
  // Answered while the handler runs, or the call times out (the takeover takes milliseconds).
  EXPECT_EQ(channel.with_timeout(2s).call<std::string>("echo", "fast"), "fast");
  EXPECT_EQ(slow.wait_for(0s), std::future_status::timeout);
  EXPECT_EQ(slow.get(), 4000);
}

TEST(SpinningPeer, StopEndsRunServerForever) {
  RPCPeer server(spinning());
  std::thread serving([&] { server.run_server_forever(); });
  RPCPeer client;
  EXPECT_EQ(client.talk_to(server.nl_pid()).call<bool>("rpc.ping"), true);
  server.stop();
  serving.join();
  EXPECT_FALSE(server.serving());
}

TEST(SpinningCli, PingWithSpinPrintsTheSummaryLine) {
  std::unique_ptr<test::ChildProcess> child;
  const auto nl_pid = test::start_demo_server(child, {"--spin", "50"});
  const auto result =
      test::procslink_cli({"ping", "-c", "20", "--spin", "50", std::to_string(nl_pid)});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("rtt min/median/p99/max = "), std::string::npos) << result.out;
  EXPECT_EQ(child->stop(SIGINT), 0);
}

TEST(SpinningCli, DemoServerTakesASpinTakeoverAndRefusesZero) {
  std::unique_ptr<test::ChildProcess> child;
  const auto nl_pid =
      test::start_demo_server(child, {"--spin", "50", "--spin-takeover", "2000"});
  const auto result = test::procslink_cli({"ping", "-c", "5", std::to_string(nl_pid)});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(child->stop(SIGINT), 0);

  const auto refused = test::procslink_cli({"demo-server", "--spin-takeover", "0"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find("--spin-takeover"), std::string::npos) << refused.err;
}

}  // namespace
}  // namespace procslink
