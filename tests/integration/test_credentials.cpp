// Credentials and trust, with real processes under other uids and in other namespaces (needs
// root for setpriv and unshare; skipped with the reason otherwise).
//
// What a receiver learns about a sender comes from the kernel (SO_PASSCRED, SCM_CREDENTIALS),
// never from the bytes. These tests pin down exactly what the kernel reports:
//   - uid and gid are the sender's REAL ids, translated into the receiver's user namespace;
//     an id with no mapping there becomes the overflow id (/proc/sys/kernel/overflowuid);
//   - pid is the number the sender's own PID namespace gives it, not translated for the
//     receiver (a sender that is init of its PID namespace is reported as pid 1).
// and that policies (AccessPolicy, --allow-uid) and requiring_uid act on those values.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <mutex>
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

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Runs the rest with real and effective uid/gid set and no supplementary groups.
std::vector<std::string> as_user(uid_t uid, gid_t gid) {
  return {"setpriv", "--reuid", std::to_string(uid), "--regid", std::to_string(gid),
          "--clear-groups"};
}

std::vector<std::string> cli(std::vector<std::string> args) {
  return concat({PROCSLINK_CLI}, args);
}

json output_json(const CommandResult& r) {
  try {
    return json::parse(r.out);
  } catch (const json::exception&) {
    ADD_FAILURE() << "not JSON on stdout: '" << r.out << "' (stderr: " << r.err << ")";
    return nullptr;
  }
}

unsigned read_number(const char* path) {
  std::ifstream in(path);
  unsigned value = 0;
  if (!(in >> value)) throw std::runtime_error(std::string("cannot read ") + path);
  return value;
}

bool refused_with_access_denied(const CommandResult& r) {
  return r.exit_code == 1 && r.out.empty() &&
         r.err.find("remote error -32001: Access denied") != std::string::npos;
}

PeerOptions small_peer() {
  PeerOptions options;
  options.workers = 2;
  options.timeout = std::chrono::milliseconds(5000);
  return options;
}

// An in-process server with whoami and two more methods, whose log lines are kept.
void register_methods(RPCPeer& peer) {
  peer.register_function("whoami", [](const CallContext& c) {
    return json{{"pid", c.credentials.pid}, {"uid", c.credentials.uid},
                {"gid", c.credentials.gid}, {"nl_pid", c.sender_nl_pid}};
  });
  peer.register_function("open", [] { return "open"; });
  peer.register_function("secret", [] { return "secret"; });
}

class KernelCredentials : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::running_as_root()) GTEST_SKIP() << "switching uids with setpriv needs root";
    const CommandResult r = run_command(concat(as_user(1000, 1000), {"true"}));
    if (r.exit_code != 0) GTEST_SKIP() << "setpriv --reuid 1000 does not work here: " << r.err;
    set_log_sink([this](LogLevel, std::string_view line) {
      std::lock_guard lock(log_mutex_);
      log_lines_.emplace_back(line);
    });
  }
  void TearDown() override { set_log_sink(nullptr); }

  bool logged(const std::string& fragment) {
    std::lock_guard lock(log_mutex_);
    for (const auto& line : log_lines_) {
      if (line.find(fragment) != std::string::npos) return true;
    }
    return false;
  }
  // CLI call as another user.
  CommandResult call_as(uid_t uid, gid_t gid, std::vector<std::string> args) {
    return run_command(concat(as_user(uid, gid), cli(concat({"call"}, args))));
  }
  void require_unshare(const std::vector<std::string>& flags) {
    if (!test::can_unshare(flags)) GTEST_SKIP() << "unshare is not permitted here";
  }
  // A user namespace created by an unprivileged uid (some distributions forbid it).
  void require_unprivileged_user_namespace(uid_t uid) {
    const CommandResult r =
        run_command(concat(as_user(uid, uid), {"unshare", "--user", "--map-root-user", "true"}));
    if (r.exit_code != 0) {
      GTEST_SKIP() << "uid " << uid << " may not create a user namespace here: " << r.err;
    }
  }

 private:
  std::mutex log_mutex_;
  std::vector<std::string> log_lines_;
};

// ---- what the kernel reports --------------------------------------------------------------

TEST_F(KernelCredentials, InProcessCallerIsReportedWithItsOwnPidUidGidAndPort) {
  RPCPeer server(small_peer());
  register_methods(server);
  server.start();
  RPCPeer client(small_peer());
  const json who = client.talk_to(server.nl_pid()).call("whoami");
  EXPECT_EQ(who.at("pid"), ::getpid());
  EXPECT_EQ(who.at("uid"), ::getuid());
  EXPECT_EQ(who.at("gid"), ::getgid());
  EXPECT_EQ(who.at("nl_pid"), client.nl_pid());
}

TEST_F(KernelCredentials, WhoamiReportsTheUidAndGidSetpriv) {
  std::unique_ptr<ChildProcess> server;
  const std::string target = std::to_string(start_demo_server(server));
  const CommandResult r = call_as(1000, 1000, {target, "whoami"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(output_json(r).at("uid"), 1000);
  EXPECT_EQ(output_json(r).at("gid"), 1000);

  const CommandResult other = call_as(1001, 1002, {target, "whoami"});
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_EQ(output_json(other).at("uid"), 1001);
  EXPECT_EQ(output_json(other).at("gid"), 1002);
}

TEST_F(KernelCredentials, KernelReportsTheRealUidNotTheEffectiveOne) {
  std::unique_ptr<ChildProcess> server;
  const std::string target = std::to_string(start_demo_server(server));
  // Like a set-uid program: effective 1000, real 0. SCM_CREDENTIALS carries the real ids.
  const CommandResult r = run_command(concat(
      {"setpriv", "--euid", "1000", "--egid", "1000", "--clear-groups"},
      cli({"call", target, "whoami"})));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(output_json(r).at("uid"), 0);
  EXPECT_EQ(output_json(r).at("gid"), 0);
}

TEST_F(KernelCredentials, SenderThatIsPidOneInItsPidNamespaceIsReportedAsPidOne) {
  require_unshare({"--pid", "--fork"});
  std::unique_ptr<ChildProcess> server;
  const std::string target = std::to_string(start_demo_server(server));
  const CommandResult r =
      run_command(concat({"unshare", "--pid", "--fork", "--mount-proc"}, cli({"call", target, "whoami"})));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Not translated into the receiver's PID namespace: 1 here is the sender's own number.
  EXPECT_EQ(output_json(r).at("pid"), 1);
  EXPECT_EQ(output_json(r).at("uid"), 0);
}

TEST_F(KernelCredentials, ServerInAPidNamespaceSeesTheHostPidOfAHostCaller) {
  require_unshare({"--pid", "--fork"});
  std::unique_ptr<ChildProcess> server;
  const std::uint32_t target =
      start_demo_server(server, {}, {"unshare", "--pid", "--fork", "--mount-proc"});
  RPCPeer client(small_peer());
  // The number is the caller's in the host namespace, where the server cannot look it up.
  EXPECT_EQ(client.talk_to(target).call("whoami").at("pid"), ::getpid());
  EXPECT_EQ(client.talk_to(target).call("rpc.identity").at("pid"), 1);
}

TEST_F(KernelCredentials, CallerInAUserNamespaceIsSeenWithItsOutsideUid) {
  require_unprivileged_user_namespace(1000);
  const std::vector<std::string> inside =
      concat(as_user(1000, 1000), {"unshare", "--user", "--map-root-user"});
  // Inside, it is root.
  const CommandResult id = run_command(concat(inside, {"id", "-u"}));
  ASSERT_EQ(id.exit_code, 0) << id.err;
  ASSERT_EQ(id.out, "0\n");

  std::unique_ptr<ChildProcess> server;
  const std::string target = std::to_string(start_demo_server(server));
  const CommandResult r = run_command(concat(inside, cli({"call", target, "whoami"})));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(output_json(r).at("uid"), 1000);
  EXPECT_EQ(output_json(r).at("gid"), 1000);
}

TEST_F(KernelCredentials, CallerUidWithoutMappingInTheServersUserNamespaceIsTheOverflowUid) {
  require_unshare({"--user", "--map-root-user"});
  const unsigned overflow_uid = read_number("/proc/sys/kernel/overflowuid");
  const unsigned overflow_gid = read_number("/proc/sys/kernel/overflowgid");
  // Created by root with --map-root-user: only uid 0 and gid 0 are mapped in there.
  std::unique_ptr<ChildProcess> server;
  const std::string target = std::to_string(
      start_demo_server(server, {}, {"unshare", "--user", "--map-root-user"}));

  const CommandResult unmapped = call_as(1000, 1000, {target, "whoami"});
  ASSERT_EQ(unmapped.exit_code, 0) << unmapped.err;
  EXPECT_EQ(output_json(unmapped).at("uid"), overflow_uid);
  EXPECT_EQ(output_json(unmapped).at("gid"), overflow_gid);
  EXPECT_EQ(overflow_uid, 65534u);  // the documented default, seen on the test machines

  const CommandResult mapped = procslink_cli({"call", target, "whoami"});
  ASSERT_EQ(mapped.exit_code, 0) << mapped.err;
  EXPECT_EQ(output_json(mapped).at("uid"), 0);
}

TEST_F(KernelCredentials, ServersUserNamespaceRenumbersCallers) {
  require_unprivileged_user_namespace(1000);
  const unsigned overflow_uid = read_number("/proc/sys/kernel/overflowuid");
  // Created by uid 1000 with --map-root-user: outside 1000 is inside 0, nothing else maps.
  std::unique_ptr<ChildProcess> server;
  const std::string target = std::to_string(start_demo_server(
      server, {}, concat(as_user(1000, 1000), {"unshare", "--user", "--map-root-user"})));

  const CommandResult from_1000 = call_as(1000, 1000, {target, "whoami"});
  ASSERT_EQ(from_1000.exit_code, 0) << from_1000.err;
  EXPECT_EQ(output_json(from_1000).at("uid"), 0);  // "root", as that namespace numbers it

  const CommandResult from_root = procslink_cli({"call", target, "whoami"});
  ASSERT_EQ(from_root.exit_code, 0) << from_root.err;
  EXPECT_EQ(output_json(from_root).at("uid"), overflow_uid);
}

// ---- policies -----------------------------------------------------------------------------

TEST_F(KernelCredentials, AllowUidServerAcceptsThatUidAndRefusesRoot) {
  std::unique_ptr<ChildProcess> server;
  const std::string target = std::to_string(start_demo_server(server, {"--allow-uid", "1000"}));
  const CommandResult allowed = call_as(1000, 1000, {target, "whoami"});
  ASSERT_EQ(allowed.exit_code, 0) << allowed.err;
  EXPECT_EQ(output_json(allowed).at("uid"), 1000);

  const CommandResult root = procslink_cli({"call", target, "whoami"});
  EXPECT_TRUE(refused_with_access_denied(root)) << root.exit_code << ": " << root.err;
  EXPECT_NE(root.err.find("uid 0 may not call 'whoami'"), std::string::npos) << root.err;

  EXPECT_TRUE(refused_with_access_denied(call_as(1001, 1001, {target, "whoami"})));
}

TEST_F(KernelCredentials, AllowUidZeroServerAcceptsRootAndRefusesOtherUsers) {
  std::unique_ptr<ChildProcess> server;
  const std::string target = std::to_string(start_demo_server(server, {"--allow-uid", "0"}));
  EXPECT_EQ(procslink_cli({"call", target, "rpc.ping"}).exit_code, 0);
  const CommandResult user = call_as(1000, 1000, {target, "rpc.ping"});
  EXPECT_TRUE(refused_with_access_denied(user)) << user.exit_code << ": " << user.err;
}

TEST_F(KernelCredentials, RepeatedAllowUidAllowsEachListedUid) {
  std::unique_ptr<ChildProcess> server;
  const std::string target = std::to_string(
      start_demo_server(server, {"--allow-uid", "1000", "--allow-uid", "1001"}));
  EXPECT_EQ(call_as(1000, 1000, {target, "rpc.ping"}).exit_code, 0);
  EXPECT_EQ(call_as(1001, 1001, {target, "rpc.ping"}).exit_code, 0);
  EXPECT_TRUE(refused_with_access_denied(procslink_cli({"call", target, "rpc.ping"})));
}

TEST_F(KernelCredentials, RefusedCallerOfANamedServiceGetsAccessDeniedNotWrongPeer) {
  const std::string name = "procslink-test-cred-" + std::to_string(::getpid()) + "-named";
  std::unique_ptr<ChildProcess> server;
  start_demo_server(server, {"--name", name, "--allow-uid", "1000"});
  const CommandResult root = procslink_cli({"call", name, "whoami"});
  EXPECT_TRUE(refused_with_access_denied(root)) << root.exit_code << ": " << root.err;
  const CommandResult allowed = call_as(1000, 1000, {name, "whoami"});
  ASSERT_EQ(allowed.exit_code, 0) << allowed.err;
  EXPECT_EQ(output_json(allowed).at("uid"), 1000);
}

TEST_F(KernelCredentials, PolicyInPeerOptionsRefusesOtherUidsAndLogsTheRefusal) {
  PeerOptions options = small_peer();
  options.policy.uids = {1000};
  RPCPeer server(options);
  register_methods(server);
  server.start();

  RPCPeer client(small_peer());
  try {
    client.talk_to(server.nl_pid()).call("open");
    ADD_FAILURE() << "uid 0 got past a policy that allows only uid 1000";
  } catch (const RemoteError& e) {
    EXPECT_EQ(e.code(), error_code::access_denied);
    EXPECT_EQ(e.message(), "Access denied");
  }
  EXPECT_TRUE(logged("refused 'open' from nl_pid " + std::to_string(client.nl_pid()) + " (pid " +
                     std::to_string(::getpid()) + ", uid 0)"));

  const CommandResult allowed = call_as(1000, 1000, {std::to_string(server.nl_pid()), "open"});
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
  EXPECT_EQ(allowed.out, "\"open\"\n");
}

TEST_F(KernelCredentials, MethodPolicyRestrictsOnlyThatMethod) {
  RPCPeer server(small_peer());
  register_methods(server);
  server.set_method_policy("secret", AccessPolicy{{1000}, {}});
  server.start();
  const std::string target = std::to_string(server.nl_pid());

  RPCPeer client(small_peer());
  Channel channel = client.talk_to(server.nl_pid());
  EXPECT_EQ(channel.call<std::string>("open"), "open");
  try {
    channel.call("secret");
    ADD_FAILURE() << "uid 0 called a method reserved for uid 1000";
  } catch (const RemoteError& e) {
    EXPECT_EQ(e.code(), error_code::access_denied);
    ASSERT_TRUE(e.data().has_value());
    EXPECT_EQ(*e.data(), "uid 0 may not call 'secret'");
  }
  EXPECT_TRUE(logged("refused 'secret'"));

  const CommandResult allowed = call_as(1000, 1000, {target, "secret"});
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
  EXPECT_EQ(allowed.out, "\"secret\"\n");
  EXPECT_TRUE(refused_with_access_denied(call_as(1001, 1001, {target, "secret"})));
  EXPECT_EQ(call_as(1001, 1001, {target, "open"}).exit_code, 0);
}

TEST_F(KernelCredentials, PeerPolicyAndMethodPolicyMustBothAllow) {
  RPCPeer server(small_peer());
  register_methods(server);
  server.set_policy(AccessPolicy{{0, 1000}, {}});
  server.set_method_policy("secret", AccessPolicy{{1000}, {}});
  server.start();
  const std::string target = std::to_string(server.nl_pid());

  EXPECT_EQ(procslink_cli({"call", target, "open"}).exit_code, 0);
  EXPECT_TRUE(refused_with_access_denied(procslink_cli({"call", target, "secret"})));
  EXPECT_EQ(call_as(1000, 1000, {target, "secret"}).exit_code, 0);
  EXPECT_TRUE(refused_with_access_denied(call_as(1001, 1001, {target, "open"})));
  EXPECT_TRUE(refused_with_access_denied(call_as(1001, 1001, {target, "secret"})));
}

TEST_F(KernelCredentials, GidPolicyMatchesThePrimaryGroupOnly) {
  RPCPeer server(small_peer());
  register_methods(server);
  server.set_policy(AccessPolicy{{}, {1000}});
  server.start();
  const std::string target = std::to_string(server.nl_pid());

  EXPECT_EQ(call_as(1001, 1000, {target, "open"}).exit_code, 0);
  EXPECT_TRUE(refused_with_access_denied(call_as(1001, 1001, {target, "open"})));
  // SCM_CREDENTIALS carries one gid: membership through a supplementary group is invisible.
  const CommandResult supplementary = run_command(concat(
      {"setpriv", "--reuid", "1001", "--regid", "1001", "--groups", "1000"},
      cli({"call", target, "open"})));
  EXPECT_TRUE(refused_with_access_denied(supplementary))
      << supplementary.exit_code << ": " << supplementary.err;
}

TEST_F(KernelCredentials, OverflowUidInAPolicyAdmitsEveryUnmappedCaller) {
  require_unshare({"--user", "--map-root-user"});
  const std::string overflow = std::to_string(read_number("/proc/sys/kernel/overflowuid"));
  std::unique_ptr<ChildProcess> server;
  const std::string target = std::to_string(start_demo_server(
      server, {"--allow-uid", overflow}, {"unshare", "--user", "--map-root-user"}));
  // Two different users outside are the same "nobody" inside: a policy cannot tell them apart.
  EXPECT_EQ(call_as(1000, 1000, {target, "rpc.ping"}).exit_code, 0);
  EXPECT_EQ(call_as(1001, 1001, {target, "rpc.ping"}).exit_code, 0);
  EXPECT_TRUE(refused_with_access_denied(procslink_cli({"call", target, "rpc.ping"})));
}

// ---- requiring a uid of the server --------------------------------------------------------

TEST_F(KernelCredentials, RequireUidFailsUnlessTheAnsweringProcessHasThatUid) {
  std::unique_ptr<ChildProcess> root_server;
  const std::string root_target = std::to_string(start_demo_server(root_server));
  const CommandResult mismatch =
      procslink_cli({"call", "--require-uid", "1000", root_target, "rpc.ping"});
  EXPECT_EQ(mismatch.exit_code, 2);
  EXPECT_EQ(mismatch.out, "");
  EXPECT_NE(mismatch.err.find("came from uid 0, not the required uid 1000"), std::string::npos)
      << mismatch.err;
  EXPECT_EQ(procslink_cli({"call", "--require-uid", "0", root_target, "rpc.ping"}).exit_code, 0);

  std::unique_ptr<ChildProcess> user_server;
  const std::uint32_t user_target = start_demo_server(user_server, {}, as_user(1000, 1000));
  EXPECT_EQ(procslink_cli({"call", "--require-uid", "1000", std::to_string(user_target), "rpc.ping"})
                .exit_code,
            0);
  EXPECT_EQ(procslink_cli({"call", "--require-uid", "0", std::to_string(user_target), "rpc.ping"})
                .exit_code,
            2);

  RPCPeer client(small_peer());
  EXPECT_EQ(client.talk_to(user_target).requiring_uid(1000).call("rpc.ping"), true);
  try {
    client.talk_to(user_target).requiring_uid(0).call("rpc.ping");
    ADD_FAILURE() << "requiring_uid(0) accepted a reply from uid 1000";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), TransportError::Kind::wrong_peer) << e.what();
  }
}

}  // namespace
}  // namespace procslink
