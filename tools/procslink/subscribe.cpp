// procslink subscribe: subscribes to TARGET's events and prints each as one line of compact
// JSON, {"event":"tick","params":[...]}, flushed as it arrives; until COUNT events (-c) or
// SIGINT/SIGTERM, then unsubscribes.
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <vector>

#include "commands.hpp"
#include "connection.hpp"
#include "procslink/procslink.hpp"

namespace procslink::cli {
namespace {

int g_stop_fd = -1;  // an eventfd the signal handler and the last awaited event write
extern "C" void on_subscribe_stop_signal(int) {
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(g_stop_fd, &one, sizeof one);
}

struct SubscribeArgs {
  TargetOptions target;
  std::vector<std::string> events;
  long count = 0;  // 0: until a signal
};

// Prints events one a line and counts them; the COUNTth (and any later) wakes the main thread.
class EventPrinter {
 public:
  explicit EventPrinter(long count) : count_(count) {}
  // `missed`: events of this subscription lost before this one (its receive buffer was full).
  void print(const std::string& event, const json& params, std::uint64_t missed) {
    std::lock_guard lock(mutex_);
    if (count_ != 0 && printed_ >= count_) return;
    json line{{"event", event}, {"params", params}};
    if (missed != 0) line["missed"] = missed;
    std::cout << to_text(line) << '\n' << std::flush;
    if (++printed_ == count_) on_subscribe_stop_signal(0);
  }

 private:
  std::mutex mutex_;
  const long count_;
  long printed_ = 0;
};

// One subscription as its callback sees it: the handle, once subscribe has returned it, and
// how many missed events were already reported (callbacks of one subscription never overlap).
struct Watched {
  std::atomic<const Subscription*> handle{nullptr};
  std::uint64_t reported = 0;
};

void wait_for_stop(int fd) {
  pollfd p{fd, POLLIN, 0};
  while (::poll(&p, 1, -1) < 0 && errno == EINTR) {
  }
}

int run_subscribe(const SubscribeArgs& a) {
  g_stop_fd = ::eventfd(0, EFD_CLOEXEC);
  if (g_stop_fd < 0) throw std::runtime_error("eventfd: cannot create one");
  struct sigaction action {};
  action.sa_handler = on_subscribe_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  // Declared before the connection, so that its threads (which run the callbacks) are joined
  // before these go.
  EventPrinter printer(a.count);
  std::vector<Watched> watched(a.events.size());
  std::vector<Subscription> subscriptions;
  subscriptions.reserve(a.events.size());  // the handles stay where they are
  Connection connection(a.target);
  for (std::size_t i = 0; i < a.events.size(); ++i) {
    const std::string& event = a.events[i];
    Watched& w = watched[i];
    try {
      subscriptions.push_back(
          connection.channel.subscribe(event, [&printer, &w, event](const json& params) {
            const Subscription* handle = w.handle.load();
            const std::uint64_t total = handle ? handle->missed() : w.reported;
            printer.print(event, params, total > w.reported ? total - w.reported : 0);
            w.reported = total;
          }));
      w.handle.store(&subscriptions.back());
    } catch (const RemoteError& e) {
      // A refused subscription is a failure to subscribe, like an absent target (exit 2).
      std::cerr << "procslink: subscribing to '" << event << "' refused: " << e.code() << " "
                << e.message() << '\n';
      for (Subscription& s : subscriptions) s.cancel();
      return kExitFailure;
    }
  }
  wait_for_stop(g_stop_fd);
  for (Subscription& s : subscriptions) s.cancel();  // unsubscribes
  return kExitOk;
}

}  // namespace

void add_subscribe(CLI::App& app, std::function<int()>& run) {
  auto a = std::make_shared<SubscribeArgs>();
  auto* cmd = app.add_subcommand(
      "subscribe", "subscribe to TARGET's EVENTs and print each as one line of JSON, "
                   "{\"event\":...,\"params\":...}, until COUNT events or SIGINT/SIGTERM");
  cmd->add_option("-c,--count", a->count, "exit after this many events")
      ->check(CLI::Range(1L, 1L << 40));
  add_target_options(cmd, a->target);
  cmd->add_option("EVENT", a->events, "the events to subscribe to")->required();
  cmd->callback([&run, a] { run = [a] { return run_subscribe(*a); }; });
}

}  // namespace procslink::cli
