// batch_runner.hpp - runs the elements of a JSON-RPC batch on up to kBatchParallelism threads:
// the serving thread that received it and helper threads the runner keeps.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace procslink::detail {

inline constexpr std::size_t kBatchParallelism = 8;

// Helpers are made on first need, at most kBatchParallelism - 1 for the whole peer, and kept
// until the runner is destroyed: a thread started per batch cost more than most of its
// elements. Its threads are idle whenever no batch runs: every batch waits for its helpers.
class BatchRunner {
 public:
  BatchRunner();
  BatchRunner(const BatchRunner&) = delete;
  BatchRunner& operator=(const BatchRunner&) = delete;
  ~BatchRunner();

  // Calls work() here and offers it to up to `extra` helpers as well; returns once every helper
  // that took the offer has returned from it (also when work() throws here). work() must be
  // fine to call when there is nothing left to do (a helper may come late). Helpers busy with
  // other batches do not hold this one up: offers not taken by the time work() returns here
  // are withdrawn, and this thread does the rest.
  void run(std::size_t extra, const std::function<void()>& work);

  std::size_t helpers() const;  // threads made so far

 private:
  struct Job {
    const std::function<void()>* work = nullptr;
    std::size_t offers = 0;  // not yet taken
    std::size_t active = 0;
    bool closed = false;
    std::condition_variable done;
  };
  struct Withdraw;

  // Makes sure `extra` helpers are idle or coming, as far as the limit allows.
  void spawn_for(std::size_t extra);
  void helper_loop();

  mutable std::mutex mutex_;
  std::condition_variable work_cv_;
  std::deque<Job*> queue_;
  std::vector<std::thread> threads_;
  std::size_t idle_ = 0;
  bool closing_ = false;
};

}  // namespace procslink::detail
