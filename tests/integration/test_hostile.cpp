// Hostile neighbours: any process in the network namespace may write to a peer, from as many
// sockets as it likes. Against a real demo-server: incomplete large messages from many senders
// stay within the reassembly budget, are freed on time, and do not starve another uid's large
// call; one uid's slow requests cannot occupy every serving thread. The other uid comes from
// setpriv, so these tests need root (skipped with the reason otherwise).
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "procslink/procslink.hpp"
#include "support/memory.hpp"
#include "support/process.hpp"

namespace procslink {
namespace {

using namespace std::chrono_literals;
using test::ChildProcess;
using test::CommandResult;
using test::rss_kib;

// Under sanitizers freed memory sits in a quarantine that counts as resident: only the
// behaviour is checked there, the resident sizes are printed.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kRssMeaningful = false;
#else
constexpr bool kRssMeaningful = true;
#endif

constexpr std::size_t kMaxMessage = 16u << 20;
constexpr std::size_t kBudget = 32u << 20;
constexpr std::size_t kFragment = 60u << 10;
constexpr long kMiB = 1024;  // in KiB, as rss_kib counts
constexpr std::size_t kLegit = 8u << 20;  // the legitimate call's string

std::vector<std::string> as_uid_1000(std::vector<std::string> argv) {
  argv.insert(argv.begin(), {"setpriv", "--reuid", "1000", "--regid", "1000", "--clear-groups"});
  return argv;
}

void skip_unless_root_and_setpriv() {
  if (!test::running_as_root()) GTEST_SKIP() << "a second uid (setpriv) needs root";
  const CommandResult r = test::run_command(as_uid_1000({"true"}));
  if (r.exit_code != 0) GTEST_SKIP() << "setpriv --reuid 1000 does not work here: " << r.err;
}

// Sends fragment `index` (never the last) of message `seq`, announcing a whole kMaxMessage - 1.
void send_fragment(NetlinkSocket& socket, std::uint32_t server, std::uint32_t seq,
                   std::uint16_t index) {
  static const std::string chunk(kFragment, 'h');
  const DatagramFields fields{socket.nl_pid(), PayloadType::request, seq, 0, kFlagFragment, index,
                              static_cast<std::uint32_t>(kMaxMessage - 1)};
  std::vector<std::uint8_t> datagram = build_datagram(fields, chunk);
  const iovec part{datagram.data(), datagram.size()};
  try {
    socket.send(server, std::span<const iovec>(&part, 1));
  } catch (const TransportError&) {
    // a full receive buffer: the flood goes on with the next one
  }
}

class HostileNeighbour : public ::testing::Test {
 protected:
  void start_server(std::vector<std::string> extra) {
    server = test::start_demo_server(child, std::move(extra));
    channel = std::make_unique<Channel>(client.talk_to(server));
  }
  json stats() { return channel->call("rpc.stats"); }
  // A call of echo with a string of `size` bytes from uid 1000, through the CLI.
  CommandResult large_echo_as_uid_1000(std::size_t size) {
    const std::string params = "[\"" + std::string(size, 'L') + "\"]";
    return test::run_command(
        as_uid_1000({PROCSLINK_CLI, "call", "--timeout", "30000", std::to_string(server), "echo",
                     "-"}),
        params);
  }
  // Waits up to 20 s for the server's resident size to fall to `limit_kib`; the last reading.
  long wait_for_rss_below(long limit_kib) {
    long rss = rss_kib(child->pid());
    for (const auto give_up = std::chrono::steady_clock::now() + 20s;
         rss > limit_kib && std::chrono::steady_clock::now() < give_up; rss = rss_kib(child->pid())) {
      std::this_thread::sleep_for(50ms);
    }
    return rss;
  }

  RPCPeer client;
  std::unique_ptr<ChildProcess> child;
  std::uint32_t server = 0;
  std::unique_ptr<Channel> channel;
};

// Four serving threads: on a loaded machine the pool would otherwise grow towards max_workers
// while the flood comes, and each thread's stack and receive buffer would blur what VmRSS
// says about the reassembler.
const std::vector<std::string> kBudgetServer = {
    "--max-message-size", std::to_string(kMaxMessage), "--reassembly-budget",
    std::to_string(kBudget), "--reassembly-timeout", "1500", "--stop-grace", "100",
    "--max-workers", "4"};

// Sixteen senders keep sending messages they never finish, 16 MiB each: the server holds at most
// the budget for them, another uid's 8 MiB call completes meanwhile, and once the flood ends
// and the timeout passes the memory goes back to the system, with nobody sending again.
TEST_F(HostileNeighbour, IncompleteMessagesStayWithinTheBudgetAndAreFreedOnTime) {
  skip_unless_root_and_setpriv();
  if (IsSkipped()) return;
  start_server(kBudgetServer);
  ASSERT_EQ(large_echo_as_uid_1000(kLegit).exit_code, 0);  // its buffers are in the baseline
  const long baseline = rss_kib(child->pid());

  std::vector<NetlinkSocket> senders(16);
  std::atomic<bool> flooding{true};
  std::atomic<long> peak{baseline};
  std::thread flood([&] {
    const auto fragments = static_cast<std::uint16_t>((kMaxMessage - 1) / kFragment - 2);
    for (std::uint32_t seq = 1; flooding; ++seq) {
      for (std::uint16_t index = 0; index < fragments && flooding; ++index) {
        for (auto& sender : senders) send_fragment(sender, server, seq, index);
        if (index % 16 == 0) peak = std::max(peak.load(), rss_kib(child->pid()));
      }
    }
  });
  std::this_thread::sleep_for(300ms);
  const CommandResult legit = large_echo_as_uid_1000(kLegit);
  flooding = false;
  flood.join();
  EXPECT_EQ(legit.exit_code, 0) << legit.err;
  EXPECT_EQ(legit.out.size(), kLegit + 3) << "the echoed string, quoted, and a newline";

  const json during = stats();
  std::printf("VmRSS: %ld KiB at rest, %ld KiB at the peak of the flood; %s\n", baseline,
              peak.load(), during.dump().c_str());
  EXPECT_LE(during["reassembly"]["pending_bytes"].get<std::size_t>(), kBudget);
  EXPECT_GT(during["reassembly"]["evicted"].get<int>() + during["reassembly"]["dropped"].get<int>(),
            0) << "the flood never reached the budget";
  if (kRssMeaningful) {
    // The budget, the legitimate call's request, reply and reassembly buffer, and 16 MiB of
    // room (demo-server maps large buffers whole, so freed ones leave at once): peaks of 29 to
    // 40 MiB over the baseline were seen. Without the budget, the sixteen senders would hold
    // up to 256 MiB.
    EXPECT_LT(peak - baseline, static_cast<long>((kBudget + 3 * kLegit) / 1024) + 16 * kMiB);
  }

  // What the flood held goes back; what the legitimate call left may stay: the serving thread
  // that ran it keeps its request's and reply's strings for the next one, and the reassembler
  // its buffer (up to three times its size beside the baseline's).
  const long settled = baseline + 3 * static_cast<long>(kLegit / 1024);
  json later = stats();
  for (const auto give_up = std::chrono::steady_clock::now() + 20s;
       later["reassembly"]["pending_bytes"] != 0 && std::chrono::steady_clock::now() < give_up;
       later = stats()) {
    std::this_thread::sleep_for(50ms);
  }
  const long after = wait_for_rss_below(settled);
  std::printf("VmRSS: %ld KiB after the timeout\n", after);
  EXPECT_EQ(later["reassembly"]["pending_bytes"], 0) << later.dump();
  EXPECT_GT(later["reassembly"]["expired"].get<int>(), 0) << later.dump();
  if (kRssMeaningful) {
    EXPECT_LE(after, settled) << "expired messages were not freed; the server's mappings:\n"
                              << test::resident_mappings(child->pid());
  }
  EXPECT_EQ(child->stop(SIGTERM), 0);
}

// Thousands of sockets, one fragment each: the budget holds for all senders together.
TEST_F(HostileNeighbour, ThousandsOfSocketsShareOneBudget) {
  skip_unless_root_and_setpriv();
  if (IsSkipped()) return;
  start_server(kBudgetServer);
  ASSERT_EQ(large_echo_as_uid_1000(kLegit).exit_code, 0);
  const long baseline = rss_kib(child->pid());
  long peak = baseline;
  constexpr int kRounds = 6, kSocketsPerRound = 500;  // within the usual limit of open files
  for (int round = 0; round < kRounds; ++round) {
    std::vector<NetlinkSocket> sockets(kSocketsPerRound);
    for (auto& socket : sockets) send_fragment(socket, server, 1, 0);
    peak = std::max(peak, rss_kib(child->pid()));
  }
  const json held = stats();
  std::printf("VmRSS: %ld KiB at rest, %ld KiB at the peak; %s\n", baseline, peak,
              held.dump().c_str());
  EXPECT_LE(held["reassembly"]["pending_bytes"].get<std::size_t>(), kBudget);
  if (kRssMeaningful) {
    EXPECT_LT(peak - baseline, static_cast<long>(kBudget / 1024) + 24 * kMiB);
  }
  const CommandResult legit = large_echo_as_uid_1000(kLegit);
  EXPECT_EQ(legit.exit_code, 0) << legit.err;
  EXPECT_EQ(child->stop(SIGTERM), 0);
}

// One uid sends slow requests as notifications (one datagram each, nothing to wait for) and
// calls: it gets its share of the serving threads and -32004 beyond it, while another uid is
// answered at once.
TEST_F(HostileNeighbour, OneUidCannotOccupyEveryServingThread) {
  skip_unless_root_and_setpriv();
  if (IsSkipped()) return;
  start_server({"--max-workers", "8", "--max-workers-per-uid", "6", "--stop-grace", "100"});
  const std::string target = std::to_string(server);
  const CommandResult flood = test::run_command(as_uid_1000(
      {"sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do \"$0\" notify \"$1\" sleep '[60000]'; done",
       PROCSLINK_CLI, target}));
  ASSERT_EQ(flood.exit_code, 0) << flood.err;
  json seen = stats();
  for (const auto give_up = std::chrono::steady_clock::now() + 20s;
       seen["threads"]["refused_busy"] < 4 && std::chrono::steady_clock::now() < give_up;
       seen = stats()) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(seen["threads"]["refused_busy"], 4) << seen.dump();
  // Six sleepers of uid 1000, and this very call of rpc.stats.
  EXPECT_EQ(seen["threads"]["running_handlers"], 7) << seen.dump();
  EXPECT_EQ(seen["threads"]["running_uids"], 2) << seen.dump();

  const CommandResult other_uid = test::procslink_cli({"call", target, "rpc.ping"});
  EXPECT_EQ(other_uid.exit_code, 0) << other_uid.err;
  EXPECT_EQ(other_uid.out, "true\n");
  const CommandResult same_uid =
      test::run_command(as_uid_1000({PROCSLINK_CLI, "call", target, "sleep", "[1]"}));
  EXPECT_EQ(same_uid.exit_code, 1) << same_uid.err;
  EXPECT_NE(same_uid.err.find("-32004"), std::string::npos) << same_uid.err;
  EXPECT_EQ(child->stop(SIGTERM), 0) << "the grace is over: it exits without the sleepers";
}

}  // namespace
}  // namespace procslink
