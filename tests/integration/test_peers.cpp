// `procslink peers` and list_peers with real processes: demo-servers with and without a name,
// a reference Python peer (../shared/reference, run with /usr/bin/python3 as its own process),
// a silent USERSOCK socket, a server in another PID namespace, and one in another network
// namespace reached with --netns. The namespace tests need root and skip otherwise.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "procslink/procslink.hpp"
#include "support/process.hpp"

namespace procslink {
namespace {

using test::ChildProcess;
using test::CommandResult;
using test::procslink_cli;
using test::run_command;
using test::start_demo_server;

// The entry of `list` (a peers --json array) whose nl_pid is `nl_pid`, or null.
json entry_for(const json& list, std::uint32_t nl_pid) {
  for (const json& e : list) {
    if (e.at("nl_pid") == nl_pid) return e;
  }
  return nullptr;
}

json peers_json(std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"peers", "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  const CommandResult r = procslink_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return parse_json(r.out);
}

// A reference Python peer serving forever; its first stdout line is its nl_pid.
std::uint32_t start_reference_peer(std::unique_ptr<ChildProcess>& child) {
  const std::string script = "import sys; sys.path.insert(0, '" + test::kReferencePackage +
                             "'); from procslink import RPCPeer; p = RPCPeer(); "
                             "print(p.nl_pid, flush=True); p.run_server_forever()";
  child = std::make_unique<ChildProcess>(std::vector<std::string>{"/usr/bin/python3", "-c", script});
  return static_cast<std::uint32_t>(std::stoul(child->first_line()));
}

TEST(Peers, ListsNamedAndUnnamedDemoServersAndAReferencePeer) {
  if (access((test::kReferencePackage + "/procslink").c_str(), R_OK) != 0 ||
      access("/usr/bin/python3", X_OK) != 0) {
    GTEST_SKIP() << "no reference peer at " << test::kReferencePackage << " or no /usr/bin/python3";
  }
  std::unique_ptr<ChildProcess> named, unnamed, reference;
  const std::string name = "peers-test-" + std::to_string(::getpid());
  const std::uint32_t named_port = start_demo_server(named, {"--name", name});
  const std::uint32_t unnamed_port = start_demo_server(unnamed);
  const std::uint32_t reference_port = start_reference_peer(reference);

  // Python may be slow to answer on a busy machine; the probes end when every port answered.
  const json list = peers_json({"--timeout", "3000"});
  const json n = entry_for(list, named_port);
  ASSERT_TRUE(n.is_object()) << list;
  EXPECT_EQ(n["name"], name);
  EXPECT_EQ(n["pid"], named->pid());
  EXPECT_EQ(n["process"], "procslink");
  EXPECT_EQ(n["uid"], ::getuid());
  const json u = entry_for(list, unnamed_port);
  ASSERT_TRUE(u.is_object()) << list;
  EXPECT_TRUE(u["name"].is_null());
  EXPECT_EQ(u["pid"], unnamed->pid());
  const json r = entry_for(list, reference_port);
  ASSERT_TRUE(r.is_object()) << "the reference peer answers -32601 and is a peer: " << list;
  EXPECT_TRUE(r["name"].is_null());
  EXPECT_EQ(r["process"], "python3");
  for (std::size_t i = 1; i < list.size(); ++i) EXPECT_LT(list[i - 1]["nl_pid"], list[i]["nl_pid"]);

  const CommandResult table = procslink_cli({"peers"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(table.out.rfind("NL_PID", 0), 0u) << table.out;
  EXPECT_NE(table.out.find(std::to_string(named_port)), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(" " + name + "\n"), std::string::npos) << table.out;
}

TEST(Peers, ASilentSocketIsListedOnlyWithAll) {
  const NetlinkSocket silent;  // bound, never answers
  std::unique_ptr<ChildProcess> server;
  const std::uint32_t port = start_demo_server(server);
  const json plain = peers_json({"--timeout", "200"});
  EXPECT_TRUE(entry_for(plain, silent.nl_pid()).is_null()) << plain;
  EXPECT_TRUE(entry_for(plain, port).is_object()) << plain;
  const json all = peers_json({"--all", "--timeout", "200"});
  const json s = entry_for(all, silent.nl_pid());
  ASSERT_TRUE(s.is_object()) << all;
  EXPECT_EQ(s["answered"], false);
  EXPECT_EQ(s["pid"], ::getpid());
  const CommandResult table = procslink_cli({"peers", "--all", "--timeout", "200"});
  EXPECT_NE(table.out.find(std::to_string(silent.nl_pid())), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("(no answer)"), std::string::npos) << table.out;
}

TEST(Peers, LibraryListsAnInProcessPeerWithItsName) {
  PeerOptions options;
  options.name = "peers-lib-" + std::to_string(::getpid());
  RPCPeer peer(options);
  peer.start();
  const Discovery found = list_peers();
  const auto it = std::find_if(found.peers.begin(), found.peers.end(),
                               [&](const PeerInfo& p) { return p.socket.nl_pid == peer.nl_pid(); });
  ASSERT_NE(it, found.peers.end());
  EXPECT_TRUE(it->answered);
  EXPECT_EQ(it->name, options.name);
  EXPECT_EQ(it->socket.pid, ::getpid());
  EXPECT_EQ(it->socket.uid, ::getuid());
  peer.stop();
}

TEST(Peers, APeerInAnotherPidNamespaceIsSeenFromOutsideAndOutsidersAreDashesFromInside) {
  if (!test::running_as_root()) GTEST_SKIP() << "unshare --pid needs root";
  if (!test::can_unshare({"--pid", "--fork", "--mount-proc"})) GTEST_SKIP() << "unshare refused here";
  std::unique_ptr<ChildProcess> contained, outside;
  const std::uint32_t inner = start_demo_server(contained, {}, {"unshare", "--pid", "--fork"});
  const std::uint32_t outer = start_demo_server(outside);
  const json list = peers_json();
  const json in = entry_for(list, inner);
  ASSERT_TRUE(in.is_object()) << list;
  EXPECT_TRUE(in["pid"].is_number()) << "the host sees every PID namespace: " << in;
  EXPECT_EQ(in["process"], "procslink");

  const CommandResult r = run_command(
      {"unshare", "--pid", "--fork", "--mount-proc", PROCSLINK_CLI, "peers", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json from_inside = parse_json(r.out);
  const json o = entry_for(from_inside, outer);
  ASSERT_TRUE(o.is_object()) << from_inside;
  EXPECT_TRUE(o["pid"].is_null()) << o;
  EXPECT_TRUE(o["process"].is_null()) << o;
  EXPECT_NE(r.err.find("not visible to this caller"), std::string::npos) << r.err;
}

TEST(Peers, NetnsListsThePeersOfThatNamespaceOnly) {
  if (!test::running_as_root()) GTEST_SKIP() << "ip netns add needs root";
  const std::string ns = "procslink-test-peers-" + std::to_string(::getpid());
  if (run_command({"ip", "netns", "add", ns}).exit_code != 0) GTEST_SKIP() << "ip netns add failed";
  {
    const std::string name = "peers-netns-" + std::to_string(::getpid());
    std::unique_ptr<ChildProcess> inside, outside;
    const std::uint32_t in_port = start_demo_server(inside, {"--name", name}, {"ip", "netns", "exec", ns});
    const std::uint32_t out_port = start_demo_server(outside);
    const json in_list = peers_json({"--netns", "/run/netns/" + ns});
    const json in = entry_for(in_list, in_port);
    ASSERT_TRUE(in.is_object()) << in_list;
    EXPECT_EQ(in["name"], name);
    EXPECT_TRUE(entry_for(in_list, out_port).is_null()) << in_list;
    const json out_list = peers_json();
    const json o = entry_for(out_list, in_port);
    EXPECT_TRUE(o.is_null() || o["name"] != name) << out_list;
  }
  run_command({"ip", "netns", "delete", ns});
}

TEST(Peers, AnUnprivilegedCallerSeesNamesButNotRootsProcessesAndSaysSo) {
  if (!test::running_as_root()) GTEST_SKIP() << "needs root to start a root-owned server and drop to nobody";
  std::unique_ptr<ChildProcess> server;
  const std::string name = "peers-nobody-" + std::to_string(::getpid());
  const std::uint32_t port = start_demo_server(server, {"--name", name});
  const CommandResult r = run_command({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                       PROCSLINK_CLI, "peers", "--json"});
  if (r.exit_code == 126 || r.exit_code == 127) GTEST_SKIP() << "cannot run the CLI as nobody: " << r.err;
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json e = entry_for(parse_json(r.out), port);
  ASSERT_TRUE(e.is_object()) << r.out;
  EXPECT_EQ(e["name"], name);
  EXPECT_TRUE(e["pid"].is_null()) << e;
  EXPECT_TRUE(e["uid"].is_null()) << e;
  EXPECT_NE(r.err.find("not visible to this caller"), std::string::npos) << r.err;
}

TEST(Peers, AMissingNetnsIsOneLineAndExit2) {
  const CommandResult r = procslink_cli({"peers", "--netns", "/nonexistent/netns"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

}  // namespace
}  // namespace procslink
