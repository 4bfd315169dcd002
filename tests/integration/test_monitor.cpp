// `procslink monitor` and the Wireshark dissector on captures written from real datagrams: a
// client socket here talks to a real demo-server (a call, a notification, a fragmented echo
// both ways, an error), every datagram it sends and receives is recorded with the pcap writer,
// and the file is then read by `monitor --read` and by tshark (with and without
// tools/wireshark/procslink.lua). Live capture needs nlmon in the kernel: where it is missing,
// monitor must say so in one line and exit 2.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "monitor/pcap.hpp"
#include "procslink/procslink.hpp"
#include "support/process.hpp"

namespace procslink {
namespace {

using test::ChildProcess;
using test::CommandResult;
using test::procslink_cli;
using test::run_command;
using test::start_demo_server;

const std::string kDissector = std::string(PROCSLINK_TEST_DATA) + "/../tools/wireshark/procslink.lua";

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// A client socket whose every datagram, sent or received, goes into a pcap file.
class RecordingClient {
 public:
  RecordingClient(const std::string& path, std::uint32_t server) : writer_(path), server_(server) {}

  // Sends `body` as a request (in 4000-byte fragments above 4096 bytes), recording each datagram.
  void send(const std::string& body) {
    DatagramFields fields{socket_.nl_pid(), PayloadType::request, ++seq_, 0, 0, 0, 0};
    for_each_datagram(fields, body, kReferenceMaxDatagram, 4000,
                      [&](const DatagramFields& f, std::string_view chunk) {
                        auto datagram = build_datagram(f, chunk);
                        record(datagram);
                        const iovec part{datagram.data(), datagram.size()};
                        socket_.send(server_, {&part, 1});
                      });
  }
  // Receives one reply (all its fragments), recording each datagram.
  void receive_reply() {
    std::vector<std::uint8_t> buffer;
    for (;;) {
      auto d = socket_.receive(buffer, true);
      ASSERT_TRUE(d.has_value());
      record(d->bytes);
      if (!more_fragments_follow(d->bytes)) return;
    }
  }
  void close() { writer_.flush(); }

 private:
  void record(ByteView bytes) {
    writer_.write({now_ns(), 2, std::vector<std::uint8_t>(bytes.begin(), bytes.end())});
  }
  NetlinkSocket socket_;
  monitor::PcapWriter writer_;
  std::uint32_t server_;
  std::uint32_t seq_ = 0;
};

class MonitorCapture : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "procslink-monitor-" + std::to_string(::getpid()) + ".pcap";
    std::unique_ptr<ChildProcess> server;
    const std::uint32_t port = start_demo_server(server);
    RecordingClient client(path_, port);
    client.send(R"({"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":1})");
    client.receive_reply();
    client.send(R"({"jsonrpc":"2.0","method":"update","params":[1,2,3]})");
    client.send(R"({"jsonrpc":"2.0","method":"echo","params":[")" + big_ + R"("],"id":2})");
    client.receive_reply();
    client.send(R"({"jsonrpc":"2.0","method":"no_such_method","id":3})");
    client.receive_reply();
    client.close();
  }
  void TearDown() override { ::unlink(path_.c_str()); }

  std::vector<json> json_lines() {
    const CommandResult r = procslink_cli({"monitor", "--read", path_, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<json> lines;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) lines.push_back(parse_json(line));
    return lines;
  }

  std::string path_;
  // Above the server's 64 KiB fragments, so the reply is fragmented too.
  const std::string big_ = std::string(150000, 'x');
};

TEST_F(MonitorCapture, ReadDecodesEachDatagramAndReassemblesFragments) {
  const std::vector<json> lines = json_lines();
  std::vector<std::string> kinds;
  for (const json& l : lines) {
    if (l["kind"] != "fragment") kinds.push_back(l["kind"]);
  }
  const std::vector<std::string> expected = {"request", "response", "notification", "request",
                                             "response", "request", "error"};
  EXPECT_EQ(kinds, expected);
  ASSERT_GE(lines.size(), 9u);
  EXPECT_EQ(lines[0]["method"], "subtract");
  EXPECT_EQ(parse_json(lines[1]["body"].get<std::string>())["result"], 19);
  EXPECT_EQ(lines[1]["id"], 1);
  EXPECT_EQ(lines[2]["method"], "update");
  int whole_echoes = 0;
  for (const json& l : lines) {
    if (l["fragments"] == 0) continue;
    ++whole_echoes;
    EXPECT_GT(l["size"].get<std::size_t>(), big_.size());
    EXPECT_NE(l["body"].get<std::string>().find(big_), std::string::npos);
  }
  EXPECT_EQ(whole_echoes, 2) << "the echo request and its reply, each reassembled";
}

TEST_F(MonitorCapture, LinesAreAbbreviatedUnlessVerbose) {
  const CommandResult shortly = procslink_cli({"monitor", "--read", path_});
  ASSERT_EQ(shortly.exit_code, 0) << shortly.err;
  EXPECT_NE(shortly.out.find(" request subtract "), std::string::npos) << shortly.out;
  EXPECT_NE(shortly.out.find("...\n"), std::string::npos) << shortly.out;
  EXPECT_EQ(shortly.out.find(big_), std::string::npos);
  const CommandResult full = procslink_cli({"monitor", "--read", path_, "-v"});
  ASSERT_EQ(full.exit_code, 0) << full.err;
  EXPECT_NE(full.out.find(big_), std::string::npos);
}

TEST_F(MonitorCapture, WriteSavesWhatItReads) {
  const std::string copy = path_ + ".copy";
  const CommandResult r = procslink_cli({"monitor", "--read", path_, "--write", copy});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const CommandResult again = procslink_cli({"monitor", "--read", copy});
  EXPECT_EQ(again.out, r.out);
  ::unlink(copy.c_str());
}

bool have_tshark() { return run_command({"sh", "-c", "command -v tshark"}).exit_code == 0; }

TEST_F(MonitorCapture, TsharkReadsTheCaptureAsNetlink) {
  if (!have_tshark()) GTEST_SKIP() << "tshark is not installed";
  const CommandResult r = run_command({"tshark", "-r", path_, "-T", "fields", "-e", "frame.protocols"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream in(r.out);
  int frames = 0;
  for (std::string line; std::getline(in, line); ++frames) {
    EXPECT_EQ(line.rfind("netlink", 0), 0u) << line;
  }
  EXPECT_EQ(frames, static_cast<int>(json_lines().size()));
}

TEST_F(MonitorCapture, TheDissectorDecodesProcslink) {
  if (!have_tshark()) GTEST_SKIP() << "tshark is not installed";
  const CommandResult r = run_command({"tshark", "-X", "lua_script:" + kDissector, "-r", path_, "-V"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("Lua"), std::string::npos) << r.err;
  for (const char* text : {"procslink JSON-RPC over netlink", "Method: subtract", "Kind: response",
                           "Kind: notification", "Method: update", "Kind: error",
                           "Kind: fragment", "Reassembled from fragments", "Payload type: JSON-RPC request (1)"}) {
    EXPECT_NE(r.out.find(text), std::string::npos) << text << "\n" << r.out.substr(0, 4000);
  }
  const CommandResult info = run_command({"tshark", "-X", "lua_script:" + kDissector, "-r", path_});
  EXPECT_NE(info.out.find("request subtract"), std::string::npos) << info.out;
}

TEST(Monitor, ReadRefusesWhatIsNotANetlinkPcap) {
  const CommandResult r = procslink_cli({"monitor", "--read", "/etc/hostname"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("not a pcap file"), std::string::npos) << r.err;
  const CommandResult missing = procslink_cli({"monitor", "--read", "/nonexistent.pcap"});
  EXPECT_EQ(missing.exit_code, 2);
}

TEST(Monitor, WithoutNlmonInTheKernelItSaysSoAndExits2) {
  if (!test::running_as_root()) GTEST_SKIP() << "creating an nlmon device needs CAP_NET_ADMIN";
  const std::string device = "plmon" + std::to_string(::getpid() % 100000);
  const CommandResult probe = run_command({"ip", "link", "add", device, "type", "nlmon"});
  if (probe.exit_code == 0) {
    run_command({"ip", "link", "delete", device});
    GTEST_SKIP() << "this kernel has nlmon";
  }
  const CommandResult r = procslink_cli({"monitor", "--create", "-i", device});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("this kernel has no nlmon"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(run_command({"ip", "link", "show", device}).exit_code, 0) << "left a device behind";
}

}  // namespace
}  // namespace procslink
