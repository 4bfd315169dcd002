// ReceiveBatch on real netlink sockets: one recvmmsg takes what is queued (up to its slots),
// claims hand the datagrams out once each and in order, with their senders and credentials,
// and the batch is refilled only once every claimed datagram has been handled.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../src/peer/receive_batch.hpp"
#include "procslink/message.hpp"
#include "procslink/transport.hpp"

namespace procslink::detail {
namespace {

using namespace std::chrono_literals;

void send_text(const NetlinkSocket& from, const NetlinkSocket& to, const std::string& text) {
  const iovec part{const_cast<char*>(text.data()), text.size()};
  from.send(to.nl_pid(), std::span<const iovec>(&part, 1));
}

std::string text_of(const ReceiveBatch::Claimed& c) {
  return {reinterpret_cast<const char*>(c.datagram.bytes.data()), c.datagram.bytes.size()};
}

TEST(ReceiveBatch, ClaimsWhatOneFillTookInOrderWithSenderAndCredentials) {
  NetlinkSocket receiver, sender;
  for (int i = 0; i < 5; ++i) send_text(sender, receiver, "datagram " + std::to_string(i));
  ReceiveBatch batch;
  ASSERT_EQ(batch.fill(receiver.fd(), false), ReceiveBatch::Fill::filled);
  for (int i = 0; i < 5; ++i) {
    const auto claimed = batch.claim();
    ASSERT_TRUE(claimed) << i;
    EXPECT_EQ(text_of(*claimed), "datagram " + std::to_string(i));
    EXPECT_EQ(claimed->datagram.sender_nl_pid, sender.nl_pid());
    EXPECT_EQ(claimed->datagram.credentials.pid, getpid());
    EXPECT_EQ(claimed->datagram.credentials.uid, getuid());
    EXPECT_EQ(claimed->more_behind, i < 4) << i;
  }
  EXPECT_FALSE(batch.claim());
  EXPECT_FALSE(batch.has_unclaimed());
}

// A slot is not overwritten while its datagram is still being handled.
TEST(ReceiveBatch, IsFilledAgainOnlyOnceEveryClaimedDatagramWasHandled) {
  NetlinkSocket receiver, sender;
  send_text(sender, receiver, "first");
  send_text(sender, receiver, "second");
  ReceiveBatch batch;
  ASSERT_EQ(batch.fill(receiver.fd(), false), ReceiveBatch::Fill::filled);
  const auto first = batch.claim();
  ASSERT_TRUE(first);
  send_text(sender, receiver, "third");
  EXPECT_EQ(batch.fill(receiver.fd(), false), ReceiveBatch::Fill::busy) << "one unclaimed";
  const auto second = batch.claim();
  ASSERT_TRUE(second);
  batch.handled();
  EXPECT_FALSE(batch.reusable());
  EXPECT_EQ(batch.fill(receiver.fd(), false), ReceiveBatch::Fill::busy) << "one unhandled";
  EXPECT_EQ(text_of(*first), "first");
  EXPECT_EQ(text_of(*second), "second");
  batch.handled();
  EXPECT_TRUE(batch.reusable());
  ASSERT_EQ(batch.fill(receiver.fd(), false), ReceiveBatch::Fill::filled);
  const auto third = batch.claim();
  ASSERT_TRUE(third);
  EXPECT_EQ(text_of(*third), "third");
  EXPECT_FALSE(third->more_behind);
}

// Fills of different sizes from two senders, one after another: each slot a fill uses reads
// right (the slots a fill did not use are set up once, those it used again before the next).
TEST(ReceiveBatch, EveryFillReadsItsSendersAndCredentialsRight) {
  NetlinkSocket receiver, a, b;
  ReceiveBatch batch;
  int sent = 0;
  for (const int count : {1, 5, 2, 16, 1, 3}) {
    SCOPED_TRACE("a fill of " + std::to_string(count));
    std::vector<const NetlinkSocket*> from;
    for (int i = 0; i < count; ++i) {
      from.push_back((sent + i) % 3 == 0 ? &b : &a);
      send_text(*from.back(), receiver, "datagram " + std::to_string(sent + i));
    }
    ASSERT_EQ(batch.fill(receiver.fd(), false), ReceiveBatch::Fill::filled);
    for (int i = 0; i < count; ++i) {
      const auto claimed = batch.claim();
      ASSERT_TRUE(claimed) << i;
      EXPECT_EQ(text_of(*claimed), "datagram " + std::to_string(sent + i));
      EXPECT_EQ(claimed->datagram.sender_nl_pid, from[i]->nl_pid());
      EXPECT_EQ(claimed->datagram.credentials.pid, getpid());
      EXPECT_EQ(claimed->datagram.credentials.uid, getuid());
    }
    EXPECT_FALSE(batch.claim());
    for (int i = 0; i < count; ++i) batch.handled();
    sent += count;
  }
}

void send_datagram(const NetlinkSocket& from, const NetlinkSocket& to, std::uint16_t flag,
                   std::uint16_t index) {
  const std::vector<std::uint8_t> datagram = build_datagram(
      {from.nl_pid(), PayloadType::request, 7, 0, flag, index, 5}, "[1,2]");
  const iovec part{const_cast<std::uint8_t*>(datagram.data()), datagram.size()};
  from.send(to.nl_pid(), std::span<const iovec>(&part, 1));
}

// Claims every datagram of the last fill and hands them back; how many there were.
unsigned claim_all(ReceiveBatch& batch) {
  unsigned n = 0;
  while (batch.claim()) ++n;
  for (unsigned i = 0; i < n; ++i) batch.handled();
  return n;
}

// A fill that took a fragment is followed by one that takes a single datagram, so that the
// next large message's first fragment is read alone (and the rest can land in its buffer);
// once a fill takes no fragment, batches are whole again.
TEST(ReceiveBatch, AfterAFragmentTheNextFillTakesOneDatagram) {
  NetlinkSocket receiver, sender;
  send_datagram(sender, receiver, 0, 0);
  send_datagram(sender, receiver, kFlagFragment, 0);
  send_datagram(sender, receiver, kFlagFragment | kFlagLastFragment, 1);
  ReceiveBatch batch;
  ASSERT_EQ(batch.fill(receiver.fd(), false), ReceiveBatch::Fill::filled);
  EXPECT_EQ(claim_all(batch), 3u) << "no fragment before: a whole batch";
  for (int i = 0; i < 3; ++i) send_datagram(sender, receiver, 0, 0);
  ASSERT_EQ(batch.fill(receiver.fd(), false), ReceiveBatch::Fill::filled);
  EXPECT_EQ(claim_all(batch), 1u) << "after a fill with fragments";
  ASSERT_EQ(batch.fill(receiver.fd(), false), ReceiveBatch::Fill::filled);
  EXPECT_EQ(claim_all(batch), 2u) << "after a fill without";
}

TEST(ReceiveBatch, TakesAtMostItsSlotsAndLeavesTheRestQueued) {
  NetlinkSocket receiver, sender;
  const unsigned total = ReceiveBatch::kSlots + 3;
  for (unsigned i = 0; i < total; ++i) send_text(sender, receiver, std::to_string(i));
  ReceiveBatch batch;
  unsigned taken = 0;
  for (unsigned round = 0; round < 2; ++round) {
    ASSERT_EQ(batch.fill(receiver.fd(), false), ReceiveBatch::Fill::filled);
    unsigned this_round = 0;
    while (const auto claimed = batch.claim()) {
      EXPECT_EQ(text_of(*claimed), std::to_string(taken));
      ++taken;
      ++this_round;
      batch.handled();
    }
    EXPECT_EQ(this_round, round == 0 ? ReceiveBatch::kSlots : 3u);
  }
  EXPECT_EQ(batch.fill(receiver.fd(), false), ReceiveBatch::Fill::nothing);
}

TEST(ReceiveBatch, WaitingFillReturnsWithTheFirstDatagramThatArrives) {
  NetlinkSocket receiver, sender;
  ReceiveBatch batch;
  auto filled = std::async(std::launch::async, [&] { return batch.fill(receiver.fd(), true); });
  EXPECT_EQ(filled.wait_for(50ms), std::future_status::timeout) << "returned with nothing";
  send_text(sender, receiver, "late");
  ASSERT_EQ(filled.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(filled.get(), ReceiveBatch::Fill::filled);
  const auto claimed = batch.claim();
  ASSERT_TRUE(claimed);
  EXPECT_EQ(text_of(*claimed), "late");
}

// Once a socket is handed off, any serving thread may claim what its batch holds: each
// datagram still goes to exactly one of them.
TEST(ReceiveBatch, ConcurrentClaimsTakeEachDatagramOnce) {
  NetlinkSocket receiver, sender;
  for (unsigned i = 0; i < ReceiveBatch::kSlots; ++i) send_text(sender, receiver, std::to_string(i));
  ReceiveBatch batch;
  ASSERT_EQ(batch.fill(receiver.fd(), false), ReceiveBatch::Fill::filled);
  std::mutex mu;
  std::vector<std::string> taken;
  std::vector<std::thread> claimers;
  for (int t = 0; t < 4; ++t) {
    claimers.emplace_back([&] {
      while (const auto claimed = batch.claim()) {
        std::lock_guard lock(mu);
        taken.push_back(text_of(*claimed));
      }
    });
  }
  for (auto& t : claimers) t.join();
  ASSERT_EQ(taken.size(), ReceiveBatch::kSlots);
  const std::set<std::string> distinct(taken.begin(), taken.end());
  EXPECT_EQ(distinct.size(), taken.size());
}

}  // namespace
}  // namespace procslink::detail
