// The transport: real NETLINK_USERSOCK sockets in this process (binding, sending, receiving,
// credentials, errors) and the service-name to port-id mapping.
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "procslink/error.hpp"
#include "procslink/log.hpp"
#include "procslink/transport.hpp"
#include "../src/socket_receive.hpp"
#include "support/process.hpp"

namespace procslink {
namespace {

std::string unique_name(const std::string& what) {
  return "procslink-test-transport-" + what + "-" + std::to_string(getpid());
}

void send_bytes(const NetlinkSocket& from, std::uint32_t dest, const std::vector<std::uint8_t>& bytes) {
  const iovec part{const_cast<std::uint8_t*>(bytes.data()), bytes.size()};
  from.send(dest, {&part, 1});
}

std::vector<std::uint8_t> bytes_of(std::string_view text) {
  return {text.begin(), text.end()};
}

// Waits (a generous liveness bound, not a timing check) for one datagram.
std::optional<ReceivedDatagram> receive_within(const NetlinkSocket& socket,
                                               std::vector<std::uint8_t>& buffer,
                                               int timeout_ms = 5000) {
  pollfd p{socket.fd(), POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
  return socket.receive(buffer, false);
}

TEST(NetlinkSocket, AutobindGivesNonzeroPortId) {
  NetlinkSocket a;
  NetlinkSocket b;
  EXPECT_NE(a.nl_pid(), 0u);
  EXPECT_NE(b.nl_pid(), 0u);
  EXPECT_NE(a.nl_pid(), b.nl_pid());
  EXPECT_GE(a.fd(), 0);
  EXPECT_TRUE(a.netns().empty());
}

TEST(NetlinkSocket, BindsTheRequestedPortId) {
  SocketOptions options;
  options.nl_pid = port_id_for_name(unique_name("bind"));
  NetlinkSocket socket(options);
  EXPECT_EQ(socket.nl_pid(), options.nl_pid);
}

TEST(NetlinkSocket, TakenPortIdThrowsAddressInUseNamingTheHolder) {
  NetlinkSocket holder;
  SocketOptions options;
  options.nl_pid = holder.nl_pid();
  try {
    NetlinkSocket second(options);
    FAIL() << "binding nl_pid " << options.nl_pid << " twice succeeded";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), TransportError::Kind::address_in_use);
    const std::string what = e.what();
    EXPECT_NE(what.find(std::to_string(options.nl_pid)), std::string::npos) << what;
    EXPECT_NE(what.find("pid " + std::to_string(getpid())), std::string::npos) << what;
  }
}

TEST(NetlinkSocket, TakenNamedPortIdThrowsAddressInUse) {
  SocketOptions options;
  options.nl_pid = port_id_for_name(unique_name("taken"));
  NetlinkSocket holder(options);
  try {
    NetlinkSocket second(options);
    FAIL() << "binding a named port twice succeeded";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), TransportError::Kind::address_in_use);
  }
}

TEST(NetlinkSocket, PortIdIsFreeAgainAfterTheSocketCloses) {
  SocketOptions options;
  options.nl_pid = port_id_for_name(unique_name("reuse"));
  { NetlinkSocket first(options); }
  NetlinkSocket second(options);
  EXPECT_EQ(second.nl_pid(), options.nl_pid);
}

TEST(DescribePortHolder, NamesThisProcess) {
  NetlinkSocket socket;
  const std::string holder = describe_port_holder(socket.nl_pid());
  EXPECT_NE(holder.find("pid " + std::to_string(getpid())), std::string::npos) << holder;
}

TEST(DescribePortHolder, EmptyForUnboundPort) {
  EXPECT_EQ(describe_port_holder(port_id_for_name(unique_name("nobody"))), "");
}

TEST(NetlinkSocket, SendToUnboundPortThrowsNoPeer) {
  SocketOptions options;
  options.nl_pid = port_id_for_name(unique_name("gone"));
  { NetlinkSocket bound_then_closed(options); }
  NetlinkSocket sender;
  try {
    send_bytes(sender, options.nl_pid, bytes_of("hello"));
    FAIL() << "send to an unbound port id succeeded";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), TransportError::Kind::no_peer);
    EXPECT_NE(std::string(e.what()).find(std::to_string(options.nl_pid)), std::string::npos)
        << e.what();
  }
}

TEST(NetlinkSocket, DeliversSmallDatagramWithSenderAddress) {
  NetlinkSocket receiver;
  NetlinkSocket sender;
  send_bytes(sender, receiver.nl_pid(), bytes_of("ping"));
  std::vector<std::uint8_t> buffer;
  const auto d = receive_within(receiver, buffer);
  ASSERT_TRUE(d);
  EXPECT_EQ(std::string(d->bytes.begin(), d->bytes.end()), "ping");
  EXPECT_EQ(d->sender_nl_pid, sender.nl_pid());
}

TEST(NetlinkSocket, GathersAllPartsIntoOneDatagram) {
  NetlinkSocket receiver;
  NetlinkSocket sender;
  std::string head = "head-", middle = "middle-", tail = "tail";
  const iovec parts[] = {{head.data(), head.size()},
                         {middle.data(), middle.size()},
                         {tail.data(), tail.size()}};
  sender.send(receiver.nl_pid(), parts);
  std::vector<std::uint8_t> buffer;
  const auto d = receive_within(receiver, buffer);
  ASSERT_TRUE(d);
  EXPECT_EQ(std::string(d->bytes.begin(), d->bytes.end()), "head-middle-tail");
}

// The peer's own receive (src/socket_receive.hpp): one datagram scattered over three buffers
// in order, with its sender, credentials and whole length; one longer than the buffers is cut
// and its length says so; with nothing queued, no waiting.
TEST(NetlinkSocket, ReceivesADatagramScatteredOverSeveralBuffers) {
  NetlinkSocket receiver;
  NetlinkSocket sender;
  std::array<std::uint8_t, 8> first{};
  std::string second(4, '.');
  std::string third(20, '.');
  iovec iov[3] = {{first.data(), first.size()},
                  {second.data(), second.size()},
                  {third.data(), third.size()}};
  EXPECT_FALSE(detail::receive_datagram(receiver.fd(), iov, MSG_DONTWAIT));
  send_bytes(sender, receiver.nl_pid(), bytes_of("headers|the body"));
  pollfd p{receiver.fd(), POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1);
  const auto got = detail::receive_datagram(receiver.fd(), iov, MSG_DONTWAIT);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->sender_nl_pid, sender.nl_pid());
  EXPECT_EQ(got->length, 16u);
  EXPECT_EQ(got->credentials.pid, getpid());
  EXPECT_EQ(std::string(first.begin(), first.end()), "headers|");
  EXPECT_EQ(second, "the ");
  EXPECT_EQ(third, "body................");
  EXPECT_FALSE(detail::receive_datagram(receiver.fd(), iov, MSG_DONTWAIT));  // taken
  send_bytes(sender, receiver.nl_pid(), bytes_of("0123456789abcdefghij-and-more-and-more"));
  ASSERT_EQ(poll(&p, 1, 5000), 1);
  const auto cut = detail::receive_datagram(receiver.fd(), iov, MSG_DONTWAIT);
  ASSERT_TRUE(cut);
  EXPECT_EQ(cut->length, 38u);
  EXPECT_EQ(second, "89ab");
  EXPECT_EQ(third, "cdefghij-and-more-an");
}

// Whether `sender` may send a datagram of `size` bytes (root forces 4 MiB buffers).
bool send_buffer_holds(const NetlinkSocket& sender, std::size_t size) {
  int sndbuf = 0;
  socklen_t len = sizeof sndbuf;
  return getsockopt(sender.fd(), SOL_SOCKET, SO_SNDBUF, &sndbuf, &len) == 0 &&
         static_cast<std::size_t>(sndbuf) >= size + 4096;
}

TEST(NetlinkSocket, ReceivesDatagramOfTheLimitWhole) {
  NetlinkSocket receiver;
  NetlinkSocket sender;
  if (!send_buffer_holds(sender, kMaxDatagramSize)) GTEST_SKIP() << "needs root for a 4 MiB buffer";
  std::vector<std::uint8_t> payload(kMaxDatagramSize);
  for (std::size_t i = 0; i < payload.size(); ++i) {
    payload[i] = static_cast<std::uint8_t>((i * 131) ^ (i >> 8));
  }
  send_bytes(sender, receiver.nl_pid(), payload);
  std::vector<std::uint8_t> buffer;  // starts empty: the socket must grow it
  const auto d = receive_within(receiver, buffer);
  ASSERT_TRUE(d);
  ASSERT_EQ(d->bytes.size(), payload.size());
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), d->bytes.begin()));
  EXPECT_EQ(d->sender_nl_pid, sender.nl_pid());
}

TEST(NetlinkSocket, DropsDatagramLongerThanTheLimitWithALogLineAndReadsTheNext) {
  NetlinkSocket receiver;
  NetlinkSocket sender;
  if (!send_buffer_holds(sender, kMaxDatagramSize + 1)) {
    GTEST_SKIP() << "needs root for a 4 MiB buffer";
  }
  std::vector<std::string> lines;
  set_log_sink([&](LogLevel, std::string_view line) { lines.emplace_back(line); });
  send_bytes(sender, receiver.nl_pid(), std::vector<std::uint8_t>(kMaxDatagramSize + 1, 0x5a));
  send_bytes(sender, receiver.nl_pid(), bytes_of("next"));
  std::vector<std::uint8_t> buffer;
  const auto d = receive_within(receiver, buffer);
  set_log_sink(nullptr);
  ASSERT_TRUE(d);
  EXPECT_EQ(std::string(d->bytes.begin(), d->bytes.end()), "next");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("dropped a " + std::to_string(kMaxDatagramSize + 1) + "-byte datagram"),
            std::string::npos)
      << lines[0];
}

TEST(NetlinkSocket, ReceivesLargeThenSmallDatagramsIntact) {
  NetlinkSocket receiver;
  NetlinkSocket sender;
  const std::vector<std::uint8_t> large(100000, 0x5a);
  send_bytes(sender, receiver.nl_pid(), large);
  send_bytes(sender, receiver.nl_pid(), bytes_of("small"));
  std::vector<std::uint8_t> buffer;
  auto first = receive_within(receiver, buffer);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->bytes.size(), large.size());
  auto second = receive_within(receiver, buffer);
  ASSERT_TRUE(second);
  EXPECT_EQ(std::string(second->bytes.begin(), second->bytes.end()), "small");
}

TEST(NetlinkSocket, ReportsSenderCredentials) {
  NetlinkSocket receiver;
  NetlinkSocket sender;
  send_bytes(sender, receiver.nl_pid(), bytes_of("who"));
  std::vector<std::uint8_t> buffer;
  const auto d = receive_within(receiver, buffer);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->credentials.pid, getpid());
  EXPECT_EQ(d->credentials.uid, getuid());
  EXPECT_EQ(d->credentials.gid, getgid());
}

TEST(NetlinkSocket, ReportsCredentialsOfAnotherProcess) {
  // A `procslink send` child is a different process: the kernel, not the bytes, says who.
  NetlinkSocket receiver;
  std::unique_ptr<test::ChildProcess> child;
  child = std::make_unique<test::ChildProcess>(std::vector<std::string>{
      PROCSLINK_CLI, "send", "--timeout", "100", std::to_string(receiver.nl_pid()), "{}"});
  std::vector<std::uint8_t> buffer;
  const auto d = receive_within(receiver, buffer);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->credentials.pid, child->pid());
  EXPECT_EQ(d->credentials.uid, getuid());
  EXPECT_EQ(d->credentials.gid, getgid());
  EXPECT_NE(d->sender_nl_pid, receiver.nl_pid());
  EXPECT_NE(d->sender_nl_pid, 0u);
}

TEST(NetlinkSocket, NonBlockingReceiveReturnsNulloptWhenEmpty) {
  NetlinkSocket socket;
  std::vector<std::uint8_t> buffer;
  EXPECT_FALSE(socket.receive(buffer, false).has_value());
}

TEST(NetlinkSocket, BlockingReceiveReturnsQueuedDatagram) {
  NetlinkSocket receiver;
  NetlinkSocket sender;
  send_bytes(sender, receiver.nl_pid(), bytes_of("queued"));
  std::vector<std::uint8_t> buffer;
  const auto d = receiver.receive(buffer, true);
  ASSERT_TRUE(d);
  EXPECT_EQ(std::string(d->bytes.begin(), d->bytes.end()), "queued");
  EXPECT_FALSE(receiver.receive(buffer, false).has_value());
}

TEST(NetlinkSocket, MoveTransfersOwnership) {
  NetlinkSocket original;
  const int fd = original.fd();
  const std::uint32_t port = original.nl_pid();
  NetlinkSocket moved(std::move(original));
  EXPECT_EQ(moved.fd(), fd);
  EXPECT_EQ(moved.nl_pid(), port);
  EXPECT_EQ(original.fd(), -1);  // NOLINT(bugprone-use-after-move): checking the moved-from state
  NetlinkSocket assigned;
  assigned = std::move(moved);
  EXPECT_EQ(assigned.fd(), fd);
  // Still usable after the moves.
  NetlinkSocket sender;
  send_bytes(sender, assigned.nl_pid(), bytes_of("x"));
  std::vector<std::uint8_t> buffer;
  EXPECT_TRUE(receive_within(assigned, buffer));
}

TEST(NetlinkSocket, OpensInNamedNetworkNamespacePath) {
  if (!test::running_as_root()) GTEST_SKIP() << "entering a network namespace needs CAP_SYS_ADMIN";
  SocketOptions options;
  options.netns = "/proc/self/ns/net";
  NetlinkSocket inside(options);
  EXPECT_NE(inside.nl_pid(), 0u);
  EXPECT_EQ(inside.netns(), "/proc/self/ns/net");
  // It is the same namespace as ours, so a socket here can reach it.
  NetlinkSocket sender;
  send_bytes(sender, inside.nl_pid(), bytes_of("same ns"));
  std::vector<std::uint8_t> buffer;
  EXPECT_TRUE(receive_within(inside, buffer));
}

TEST(NetlinkSocket, MissingNetworkNamespaceThrows) {
  SocketOptions options;
  options.netns = "/run/netns/" + unique_name("does-not-exist");
  EXPECT_THROW(NetlinkSocket socket(options), TransportError);
}

TEST(NetlinkSocket, OtherNetworkNamespaceIsNotReachable) {
  if (!test::can_unshare({"--net"})) GTEST_SKIP() << "cannot create a network namespace here";
  test::ChildProcess holder({"unshare", "--net", "sh", "-c", "echo ready; exec sleep 60"});
  ASSERT_EQ(holder.first_line(), "ready");
  SocketOptions options;
  options.netns = "/proc/" + std::to_string(holder.pid()) + "/ns/net";
  options.nl_pid = port_id_for_name(unique_name("netns"));
  NetlinkSocket inside(options);
  // The same port id is free in our namespace: port ids are per network namespace.
  SocketOptions here;
  here.nl_pid = options.nl_pid;
  NetlinkSocket outside(here);
  EXPECT_EQ(outside.nl_pid(), inside.nl_pid());
  // A third port id bound only inside cannot be reached from here.
  SocketOptions only_inside = options;
  only_inside.nl_pid = port_id_for_name(unique_name("netns-only"));
  NetlinkSocket lonely(only_inside);
  NetlinkSocket sender;
  try {
    send_bytes(sender, lonely.nl_pid(), bytes_of("across"));
    FAIL() << "a datagram crossed network namespaces";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), TransportError::Kind::no_peer);
  }
}

// ---------------------------------------------------------------------------------------------
// Service names.

TEST(PortIdForName, MatchesFoldedFnv1a32) {
  // FNV-1a 32-bit of "", "a" and "foobar" are the published test vectors 0x811c9dc5,
  // 0xe40c292c and 0xbf9cf968; folding keeps the low 30 bits under 0x40000000.
  EXPECT_EQ(port_id_for_name(""), 0x411c9dc5u);
  EXPECT_EQ(port_id_for_name("a"), 0x640c292cu);
  EXPECT_EQ(port_id_for_name("foobar"), 0x7f9cf968u);
  EXPECT_EQ(port_id_for_name("hello"), 0x4f9f2cabu);
  EXPECT_EQ(port_id_for_name("procslink-demo"), 0x78ae577au);
}

TEST(PortIdForName, IsStable) {
  const std::string name = unique_name("stable");
  EXPECT_EQ(port_id_for_name(name), port_id_for_name(std::string(name)));
  EXPECT_NE(port_id_for_name("service-a"), port_id_for_name("service-b"));
}

TEST(PortIdForName, AlwaysInTheNamedRange) {
  for (int i = 0; i < 10000; ++i) {
    const std::uint32_t port = port_id_for_name("service-" + std::to_string(i));
    ASSERT_GE(port, kNamedPortFirst) << i;
    ASSERT_LE(port, kNamedPortLast) << i;
  }
  const std::uint32_t utf8 = port_id_for_name("d\xc3\xa9mo-\xe2\x82\xac");
  EXPECT_GE(utf8, kNamedPortFirst);
  EXPECT_LE(utf8, kNamedPortLast);
}

TEST(ParseTarget, ADecimalThatFits32BitsIsAPortId) {
  EXPECT_EQ(parse_target("1234").nl_pid, 1234u);
  EXPECT_EQ(parse_target("1234").name, "");
  EXPECT_EQ(parse_target("4294967295").nl_pid, 4294967295u);
  EXPECT_EQ(parse_target("007").nl_pid, 7u);
  EXPECT_EQ(resolve_target("1234"), 1234u);
}

TEST(ParseTarget, AnythingElseIsAServiceName) {
  for (const char* name : {"foobar", "12ab", "-5", " 12", "+12", "0x10"}) {
    EXPECT_EQ(parse_target(name).nl_pid, port_id_for_name(name)) << name;
    EXPECT_EQ(parse_target(name).name, name);
  }
  EXPECT_EQ(resolve_target("foobar"), port_id_for_name("foobar"));
}

TEST(ParseTarget, RefusesEmptyOutOfRangeAndZero) {
  for (const char* bad : {"", "4294967296", "99999999999", "184467440737095516160", "0", "000"}) {
    EXPECT_THROW(parse_target(bad), std::invalid_argument) << bad;
  }
}

}  // namespace
}  // namespace procslink
