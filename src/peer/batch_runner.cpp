// batch_runner.cpp - the batch runner's job queue and helper threads.
#include "batch_runner.hpp"

#include <algorithm>
#include <exception>

#include "procslink/log.hpp"

namespace procslink::detail {

BatchRunner::BatchRunner() { threads_.reserve(kBatchParallelism - 1); }  // never reallocates

BatchRunner::~BatchRunner() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

// Whatever happens in run(), the job leaves the queue and its helpers finish with it before it
// goes out of scope.
struct BatchRunner::Withdraw {
  BatchRunner& self;
  Job& job;
  ~Withdraw() {
    std::unique_lock lock(self.mutex_);
    job.closed = true;
    std::erase(self.queue_, &job);
    job.done.wait(lock, [this] { return job.active == 0; });
  }
};

void BatchRunner::run(std::size_t extra, const std::function<void()>& work) {
  if (extra == 0) {
    work();
    return;
  }
  Job job;
  job.work = &work;
  job.offers = extra;
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(&job);
  }
  Withdraw withdraw{*this, job};
  spawn_for(extra);
  work_cv_.notify_all();
  work();
}

std::size_t BatchRunner::helpers() const {
  std::lock_guard lock(mutex_);
  return threads_.size();
}

void BatchRunner::spawn_for(std::size_t extra) {
  std::lock_guard lock(mutex_);
  for (std::size_t idle = idle_; idle < extra && threads_.size() < kBatchParallelism - 1; ++idle) {
    try {
      threads_.emplace_back(&BatchRunner::helper_loop, this);
    } catch (const std::exception& e) {  // no thread: this one does the work itself
      log(LogLevel::warning, "cannot start a batch helper thread: ", e.what());
      return;
    }
  }
}

void BatchRunner::helper_loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    ++idle_;
    work_cv_.wait(lock, [this] { return closing_ || !queue_.empty(); });
    --idle_;
    if (closing_) return;
    Job* job = queue_.front();
    if (--job->offers == 0) queue_.pop_front();
    ++job->active;
    lock.unlock();
    try {
      (*job->work)();
    } catch (const std::exception& e) {  // the request server answers every failure
      log(LogLevel::error, "batch helper thread: ", e.what());
    }
    lock.lock();
    if (--job->active == 0 && job->closed) job->done.notify_one();
  }
}

}  // namespace procslink::detail
