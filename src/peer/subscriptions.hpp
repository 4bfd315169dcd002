// subscriptions.hpp - a publisher's subscribers: for each event, who subscribed to it (the
// socket the subscription came in on, the subscriber's port id and uid), how many events each
// was sent and missed; the events the peer declares, with their access policies. Bounded in
// total and per uid: when full, the uid holding the most subscriptions gives way, so that one
// uid subscribing from thousands of sockets cannot shut another out (docs/security.md).
// Socket-free; used by RPCPeer (rpc.subscribe, rpc.unsubscribe, emit).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "procslink/jsonrpc.hpp"
#include "procslink/peer_options.hpp"

namespace procslink::detail {

// Where one subscriber's events go.
struct SubscriberAddress {
  std::size_t endpoint = 0;
  std::uint32_t nl_pid = 0;
  bool operator==(const SubscriberAddress&) const = default;
  auto operator<=>(const SubscriberAddress&) const = default;
};

// A subscriber as emit sees it: where to send, and the inode of the socket that subscribed
// from there (0: unknown).
struct Subscriber {
  SubscriberAddress who;
  std::uint64_t inode = 0;
  std::uint32_t seq = 0;  // the subscription's number for the event being emitted (from 1)
};

class Subscriptions {
 public:
  // `max_total` subscriptions at most, `max_per_uid` of them for one uid (both at least 1).
  Subscriptions(std::size_t max_total, std::size_t max_per_uid);

  enum class Added { added, already, refused };
  // Subscribes `who` (of `uid`, its socket's inode `inode`, 0 if unknown) to `event`. When the
  // table is full, the uid holding the most subscriptions loses its oldest one, unless that is
  // `uid` itself (refused). A uid at its own limit is refused. Subscribing again from another
  // socket at the same port id takes the subscription over.
  Added add(std::string_view event, SubscriberAddress who, uid_t uid, std::uint64_t inode = 0);
  // False when `who` was not subscribed to `event`.
  bool remove(std::string_view event, SubscriberAddress who);
  // Drops every subscription of `who` (its port refuses datagrams); how many there were.
  std::size_t remove_all(SubscriberAddress who);
  // Drops the subscriptions of `who` made from a socket other than the one with inode
  // `current` (0: none is bound there now); how many there were.
  std::size_t remove_stale(SubscriberAddress who, std::uint64_t current);

  // The subscribers of `event`, in the order they subscribed (`seq`: the last event's number).
  std::vector<Subscriber> subscribers(std::string_view event) const;
  // The same for emitting one event: each subscription's event number counts on by one (0 is
  // skipped when it wraps), whether the event then reaches the subscriber or not.
  std::vector<Subscriber> next_event(std::string_view event);
  // Counts one event sent to `who` (or, `delivered` false, dropped because it was full).
  void count(std::string_view event, SubscriberAddress who, bool delivered);

  // Declares an event the peer publishes (for rpc.discover), with an optional policy for
  // subscribing to it; declaring again replaces both.
  void declare(std::string event, std::optional<AccessPolicy> policy, json description);
  // Whether a subscriber with `credentials` may subscribe to `event` (its declared policy).
  bool allows(std::string_view event, const Credentials& credentials) const;
  // The declared events, sorted by name: [{"name":..., ...description}].
  json describe() const;
  // Subscriptions, per event: subscribers, sent, missed; and the refusals (rpc.stats).
  json stats() const;
  std::size_t size() const;

 private:
  struct Subscription {
    SubscriberAddress who;
    uid_t uid;
    std::uint64_t order;  // when it was made: the oldest of a uid gives way first
    std::uint64_t inode;
    std::uint32_t seq = 0;
    std::uint64_t sent = 0;
    std::uint64_t missed = 0;
  };
  struct Declared {
    std::optional<AccessPolicy> policy;
    json description;
  };
  void evict_one_of_locked(uid_t uid);
  std::optional<uid_t> largest_holder_locked() const;
  Subscription* find_locked(std::string_view event, SubscriberAddress who);
  // Removes the subscriptions `drop` picks; how many.
  template <typename Pick>
  std::size_t remove_if_locked(Pick drop);

  const std::size_t max_total_;
  const std::size_t max_per_uid_;
  mutable std::mutex mutex_;
  std::map<std::string, std::vector<Subscription>, std::less<>> by_event_;
  std::map<uid_t, std::size_t> per_uid_;
  std::map<std::string, Declared, std::less<>> declared_;
  std::size_t total_ = 0;
  std::uint64_t next_order_ = 0;
  std::uint64_t refused_ = 0;
  std::uint64_t evicted_ = 0;
  std::uint64_t stale_ = 0;  // dropped for another socket at their port id
};

}  // namespace procslink::detail
