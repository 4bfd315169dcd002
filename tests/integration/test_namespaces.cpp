// Namespaces and names, with real processes and real namespaces (needs root; skipped with the
// reason otherwise).
//
// Netlink sockets belong to a network namespace and to nothing else, so a peer in a new PID,
// mount, UTS, IPC, cgroup, time or user namespace (or all of them at once, like a container
// that shares the host network) still reaches the host, both ways. A network namespace is the
// one boundary the datagrams do not cross: reaching into one takes a socket created inside it
// (PeerOptions::netns / extra_netns, `call --netns`, `demo-server --netns`). Service names are
// port ids derived from the name, taken per network namespace, and verified on use.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <memory>
#include <sstream>
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

std::string unique_name(const std::string& what) {
  return "procslink-test-ns-" + std::to_string(::getpid()) + "-" + what;
}

std::string namespace_of(pid_t pid, const std::string& kind) {
  char target[128];
  const std::string link = "/proc/" + std::to_string(pid) + "/ns/" + kind;
  const ssize_t n = ::readlink(link.c_str(), target, sizeof target);
  if (n <= 0) throw std::runtime_error("cannot read " + link);
  return std::string(target, static_cast<std::size_t>(n));
}

// The first child of `pid` (the program `unshare --fork` started).
pid_t first_child(pid_t pid) {
  const std::string p = std::to_string(pid);
  std::ifstream children("/proc/" + p + "/task/" + p + "/children");
  pid_t child = 0;
  if (!(children >> child)) throw std::runtime_error("process " + p + " has no child");
  return child;
}

json output_json(const CommandResult& r) {
  try {
    return json::parse(r.out);
  } catch (const json::exception& e) {
    ADD_FAILURE() << "not JSON on stdout: '" << r.out << "' (stderr: " << r.err << ")";
    return nullptr;
  }
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A peer with one method that tells where the call came in and from which port.
void register_where(RPCPeer& peer) {
  peer.register_function("where", [](const CallContext& c) {
    return json{{"netns", c.netns}, {"nl_pid", c.sender_nl_pid}};
  });
}

PeerOptions small_peer() {
  PeerOptions options;
  options.workers = 2;
  options.timeout = std::chrono::milliseconds(5000);
  return options;
}

// ---------------------------------------------------------------------------------------------
// 1. Every namespace except the network namespace: netlink goes straight through.

struct Boundary {
  std::string name;
  std::vector<std::string> unshare_flags;
  std::vector<std::string> separate;  // /proc/PID/ns entries that must differ from the host's
  bool forks;                         // the server is unshare's child, not unshare itself
};

std::ostream& operator<<(std::ostream& out, const Boundary& b) { return out << b.name; }

class AcrossBoundary : public ::testing::TestWithParam<Boundary> {
 protected:
  void SetUp() override {
    if (!test::running_as_root()) GTEST_SKIP() << "creating namespaces with unshare needs root";
    if (!test::can_unshare(GetParam().unshare_flags)) {
      GTEST_SKIP() << "unshare " << GetParam().name << " is not permitted here";
    }
  }
  std::vector<std::string> prefix() const { return concat({"unshare"}, GetParam().unshare_flags); }
  bool separate_pid_namespace() const {
    const auto& s = GetParam().separate;
    return std::find(s.begin(), s.end(), "pid") != s.end();
  }
};

TEST_P(AcrossBoundary, ServerInsideAnswersHostClientThroughLibraryAndCli) {
  std::unique_ptr<ChildProcess> server;
  const std::uint32_t target = start_demo_server(server, {}, prefix());
  const pid_t server_pid = GetParam().forks ? first_child(server->pid()) : server->pid();

  // The boundary is real: the server lives in other namespaces, yet shares our network one.
  for (const auto& kind : GetParam().separate) {
    EXPECT_NE(namespace_of(server_pid, kind), namespace_of(::getpid(), kind)) << kind;
  }
  EXPECT_EQ(namespace_of(server_pid, "net"), namespace_of(::getpid(), "net"));

  RPCPeer client(small_peer());
  Channel channel = client.talk_to(target);
  EXPECT_EQ(channel.call<std::string>("hello", "library"), "Hello, library!");
  const json who = channel.call("whoami");
  EXPECT_EQ(who.at("nl_pid"), client.nl_pid());
  EXPECT_EQ(who.at("netns"), "");
  // The server's own view of itself: pid 1 when it is the init of a new PID namespace.
  const json identity = channel.call("rpc.identity");
  if (separate_pid_namespace()) {
    EXPECT_EQ(identity.at("pid"), 1);
  } else {
    EXPECT_EQ(identity.at("pid"), server_pid);
  }

  const CommandResult r =
      procslink_cli({"call", std::to_string(target), "hello", R"(["cli"])"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "\"Hello, cli!\"\n");
}

TEST_P(AcrossBoundary, HostServerAnswersCliClientInside) {
  std::unique_ptr<ChildProcess> server;
  const std::uint32_t target = start_demo_server(server);
  const CommandResult r = run_command(
      concat(prefix(), {PROCSLINK_CLI, "call", std::to_string(target), "whoami"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json who = output_json(r);
  // A caller that is init of its own PID namespace is reported with that namespace's number.
  if (separate_pid_namespace()) EXPECT_EQ(who.at("pid"), 1);
  else EXPECT_NE(who.at("pid"), 1);
  EXPECT_EQ(who.at("uid"), 0);  // root, or root of a user namespace mapped onto root
}

const std::vector<std::string> kSandbox = {"--pid",        "--fork", "--mount",
                                           "--mount-proc", "--uts",  "--ipc",
                                           "--cgroup"};

INSTANTIATE_TEST_SUITE_P(
    Namespaces, AcrossBoundary,
    ::testing::Values(
        Boundary{"Pid", {"--pid", "--fork"}, {"pid"}, true},
        Boundary{"Mount", {"--mount"}, {"mnt"}, false},
        Boundary{"Uts", {"--uts"}, {"uts"}, false},
        Boundary{"Ipc", {"--ipc"}, {"ipc"}, false},
        Boundary{"Cgroup", {"--cgroup"}, {"cgroup"}, false},
        // A new time namespace applies to children only, hence --fork.
        Boundary{"Time", {"--time", "--fork"}, {"time"}, true},
        Boundary{"User", {"--user", "--map-root-user"}, {"user"}, false},
        Boundary{"Sandbox", kSandbox, {"pid", "mnt", "uts", "ipc", "cgroup"}, true},
        Boundary{"SandboxWithUserNamespace",
                 concat(kSandbox, {"--user", "--map-root-user", "--time"}),
                 {"pid", "mnt", "uts", "ipc", "cgroup", "user", "time"},
                 true}),
    [](const ::testing::TestParamInfo<Boundary>& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// 2. Network namespaces: the boundary netlink does not cross by itself.

class NetworkNamespaces : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::running_as_root()) GTEST_SKIP() << "ip netns add needs root";
    static std::atomic<int> counter{0};
    for (const char* which : {"a", "b"}) {
      const std::string name = "plk-" + std::to_string(::getpid()) + "-" +
                               std::to_string(counter++) + which;
      const CommandResult r = run_command({"ip", "netns", "add", name});
      if (r.exit_code != 0) GTEST_SKIP() << "ip netns add " << name << " failed: " << r.err;
      created_.push_back(name);
    }
  }
  // Always, even after a skip or a failure half-way through SetUp.
  void TearDown() override {
    for (const auto& name : created_) run_command({"ip", "netns", "delete", name});
  }
  std::string a() const { return "/run/netns/" + created_.at(0); }
  std::string b() const { return "/run/netns/" + created_.at(1); }
  std::string a_name() const { return created_.at(0); }
  std::string b_name() const { return created_.at(1); }

 private:
  std::vector<std::string> created_;
};

TEST_F(NetworkNamespaces, DemoServerWithNetnsAnswersInsideItAndOnTheHost) {
  std::unique_ptr<ChildProcess> server;
  const std::string target = std::to_string(start_demo_server(server, {"--netns", a()}));

  const CommandResult inside = procslink_cli({"call", "--netns", a(), target, "whoami"});
  ASSERT_EQ(inside.exit_code, 0) << inside.err;
  EXPECT_EQ(output_json(inside).at("netns"), a());

  const CommandResult host = procslink_cli({"call", target, "whoami"});
  ASSERT_EQ(host.exit_code, 0) << host.err;
  EXPECT_EQ(output_json(host).at("netns"), "");

  // A process that lives in A as a whole (not just its socket) comes in through A as well.
  const CommandResult exec =
      run_command({"ip", "netns", "exec", a_name(), PROCSLINK_CLI, "call", target, "whoami"});
  ASSERT_EQ(exec.exit_code, 0) << exec.err;
  EXPECT_EQ(output_json(exec).at("netns"), a());
}

TEST_F(NetworkNamespaces, ClientInANamespaceTheServerDoesNotServeFindsNoPeer) {
  std::unique_ptr<ChildProcess> server;
  const std::string target = std::to_string(start_demo_server(server, {"--netns", a()}));
  const CommandResult r = procslink_cli({"call", "--netns", b(), target, "rpc.ping"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("no peer bound at nl_pid " + target + " in " + b()), std::string::npos)
      << r.err;
}

TEST_F(NetworkNamespaces, ClientInsideCannotReachAHostOnlyServer) {
  std::unique_ptr<ChildProcess> server;
  const std::string target = std::to_string(start_demo_server(server));
  // The same port id, but A's table of netlink ports is another table.
  const CommandResult socket_inside = procslink_cli({"call", "--netns", a(), target, "rpc.ping"});
  EXPECT_EQ(socket_inside.exit_code, 2);
  EXPECT_NE(socket_inside.err.find("no peer bound"), std::string::npos) << socket_inside.err;

  const CommandResult process_inside =
      run_command({"ip", "netns", "exec", a_name(), PROCSLINK_CLI, "call", target, "rpc.ping"});
  EXPECT_EQ(process_inside.exit_code, 2);
  EXPECT_NE(process_inside.err.find("no peer bound"), std::string::npos) << process_inside.err;

  // The host itself still reaches it: the failure above is the namespace, not the server.
  EXPECT_EQ(procslink_cli({"call", target, "rpc.ping"}).exit_code, 0);
}

TEST_F(NetworkNamespaces, CallIntoAMissingNamespaceFailsNamingThePath) {
  const std::string missing = "/run/netns/" + unique_name("missing");
  const CommandResult r = procslink_cli({"call", "--netns", missing, "1", "rpc.ping"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("cannot open network namespace " + missing), std::string::npos) << r.err;
}

TEST_F(NetworkNamespaces, PeerWithExtraNetnsAnswersEachNamespaceThroughItsOwnSocket) {
  PeerOptions options = small_peer();
  options.extra_netns = {a(), b()};
  RPCPeer server(options);
  register_where(server);
  server.start();

  // Three clients on the same port id, one per namespace: a reply leaving through the wrong
  // socket would reach another client (which drops it) and this call would time out.
  const std::uint32_t shared_port = 0x3f000000u | (static_cast<std::uint32_t>(::getpid()) & 0xffffffu);
  for (const std::string& netns : {std::string(), a(), b()}) {
    PeerOptions client_options = small_peer();
    client_options.nl_pid = shared_port;
    client_options.netns = netns;
    RPCPeer client(client_options);
    const json where = client.talk_to(server.nl_pid(netns)).call("where");
    EXPECT_EQ(where.at("netns"), netns);
    EXPECT_EQ(where.at("nl_pid"), shared_port);
  }
}

TEST_F(NetworkNamespaces, TalkToWithNetnsCallsThroughThatNamespacesSocket) {
  // A server living only in A, at a port id nobody uses on the host.
  PeerOptions server_options = small_peer();
  server_options.netns = a();
  server_options.nl_pid = 0x3e000000u | (static_cast<std::uint32_t>(::getpid()) & 0xffffffu);
  RPCPeer server(server_options);
  register_where(server);
  server.start();

  PeerOptions client_options = small_peer();
  client_options.extra_netns = {a()};
  RPCPeer client(client_options);
  const json where = client.talk_to(server.nl_pid(), a()).call("where");
  EXPECT_EQ(where.at("netns"), a());  // the server's main socket, opened inside A
  EXPECT_EQ(where.at("nl_pid"), client.nl_pid(a()));

  try {
    client.talk_to(server.nl_pid()).call("where");
    ADD_FAILURE() << "the host socket reached a server that lives only in A";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), TransportError::Kind::no_peer) << e.what();
  }
  EXPECT_THROW(client.talk_to(server.nl_pid(), b()), TransportError);  // no socket in B
}

TEST_F(NetworkNamespaces, SameNameIsTakenSeparatelyInEachNamespace) {
  const std::string name = unique_name("per-netns");
  std::unique_ptr<ChildProcess> in_a, in_b;
  start_demo_server(in_a, {"--name", name}, {"ip", "netns", "exec", a_name()});
  start_demo_server(in_b, {"--name", name}, {"ip", "netns", "exec", b_name()});

  const CommandResult ra = procslink_cli({"call", "--netns", a(), name, "rpc.identity"});
  const CommandResult rb = procslink_cli({"call", "--netns", b(), name, "rpc.identity"});
  ASSERT_EQ(ra.exit_code, 0) << ra.err;
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  EXPECT_EQ(output_json(ra).at("pid"), in_a->pid());
  EXPECT_EQ(output_json(rb).at("pid"), in_b->pid());

  const CommandResult host = procslink_cli({"call", name, "rpc.ping"});
  EXPECT_EQ(host.exit_code, 2);
  EXPECT_NE(host.err.find("no peer serves the name '" + name + "'"), std::string::npos) << host.err;
}

TEST_F(NetworkNamespaces, NameTakenInAnExtraNamespaceNamesTheHolderThere) {
  const std::string name = unique_name("taken-in-a");
  std::unique_ptr<ChildProcess> holder;
  start_demo_server(holder, {"--name", name}, {"ip", "netns", "exec", a_name()});
  // Free on the host, taken in A: serving the name in both must fail and say who has it in A.
  const CommandResult r = procslink_cli({"demo-server", "--name", name, "--netns", a()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("cannot take service name '" + name + "'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("in " + a() + " by pid " + std::to_string(holder->pid()) + " "),
            std::string::npos)
      << r.err;
}

// ---------------------------------------------------------------------------------------------
// 3. Service names (these need no namespace and no root).

TEST(ServiceNames, DemoServerBindsThePortOfItsNameAndAnswersCallsByName) {
  const std::string name = unique_name("cli");
  std::unique_ptr<ChildProcess> server;
  EXPECT_EQ(start_demo_server(server, {"--name", name}), port_id_for_name(name));
  const CommandResult r = procslink_cli({"call", name, "hello", R"(["by name"])"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "\"Hello, by name!\"\n");
}

TEST(ServiceNames, LibraryPeerServesAndIsCalledByName) {
  const std::string name = unique_name("library");
  PeerOptions options = small_peer();
  options.name = name;
  RPCPeer server(options);
  EXPECT_EQ(server.nl_pid(), port_id_for_name(name));
  EXPECT_EQ(server.name(), name);
  server.register_function("double", [](int x) { return 2 * x; });
  server.start();

  RPCPeer client(small_peer());
  Channel channel = client.talk_to(std::string_view(name));
  EXPECT_EQ(channel.target(), port_id_for_name(name));
  EXPECT_EQ(channel.call<int>("double", 21), 42);
}

TEST(ServiceNames, SecondDemoServerWithTheSameNameFailsNamingTheHolder) {
  const std::string name = unique_name("twice");
  std::unique_ptr<ChildProcess> first;
  start_demo_server(first, {"--name", name});
  const CommandResult second = procslink_cli({"demo-server", "--name", name});
  EXPECT_EQ(second.exit_code, 2);
  EXPECT_EQ(second.out, "");
  EXPECT_NE(second.err.find("cannot take service name '" + name + "'"), std::string::npos)
      << second.err;
  EXPECT_NE(second.err.find("by pid " + std::to_string(first->pid()) + " (procslink)"),
            std::string::npos)
      << second.err;
  // The first one is unharmed.
  EXPECT_EQ(procslink_cli({"call", name, "rpc.ping"}).exit_code, 0);
}

TEST(ServiceNames, SecondLibraryPeerWithTheSameNameThrowsAddressInUse) {
  const std::string name = unique_name("twice-library");
  PeerOptions options = small_peer();
  options.name = name;
  RPCPeer first(options);
  try {
    RPCPeer second(options);
    FAIL() << "a second peer took a name that is in use";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), TransportError::Kind::address_in_use);
    EXPECT_NE(std::string(e.what()).find("by pid " + std::to_string(::getpid())),
              std::string::npos)
        << e.what();
  }
}

TEST(ServiceNames, UnnamedSquatterOnTheNamePortIsReportedAsWrongPeer) {
  const std::string name = unique_name("squatted");
  PeerOptions options = small_peer();
  options.nl_pid = port_id_for_name(name);  // the port, without the name
  RPCPeer squatter(options);
  squatter.start();

  const CommandResult r = procslink_cli({"call", name, "rpc.ping"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("the port for name '" + name + "') answers as an unnamed peer"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("squatter"), std::string::npos) << r.err;

  RPCPeer client(small_peer());
  try {
    client.talk_to(std::string_view(name));
    ADD_FAILURE() << "talk_to accepted a squatter";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), TransportError::Kind::wrong_peer) << e.what();
  }
  // By number the same peer is reachable: it is the name that is refused, not the port.
  EXPECT_EQ(client.talk_to(port_id_for_name(name)).call("rpc.ping"), true);
}

TEST(ServiceNames, PeerAnsweringToAnotherNameIsReportedAsWrongPeer) {
  const std::string name = unique_name("wanted");
  PeerOptions options = small_peer();
  options.nl_pid = port_id_for_name(name);  // an explicit nl_pid wins over the name's port
  options.name = unique_name("impostor");
  RPCPeer impostor(options);
  impostor.start();

  const CommandResult r = procslink_cli({"call", name, "rpc.ping"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("answers as '" + options.name + "'"), std::string::npos) << r.err;
}

TEST(ServiceNames, CallingANameNobodyServesFailsClearly) {
  const std::string name = unique_name("nobody");
  const CommandResult r = procslink_cli({"call", name, "rpc.ping"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no peer serves the name '" + name + "'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace procslink
