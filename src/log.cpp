#include "procslink/log.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace procslink {
namespace {
std::atomic<LogLevel> g_level{LogLevel::warning};
std::mutex g_sink_mutex;
LogSink g_sink;

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warning: return "warning";
    case LogLevel::error: return "error";
    case LogLevel::off: break;
  }
  return "";
}
}  // namespace

void set_log_level(LogLevel level) { g_level.store(level, std::memory_order_relaxed); }
LogLevel log_level() { return g_level.load(std::memory_order_relaxed); }

void set_log_sink(LogSink sink) {
  std::lock_guard lock(g_sink_mutex);
  g_sink = std::move(sink);
}

namespace detail {
void emit_log(LogLevel level, const std::string& line) {
  std::lock_guard lock(g_sink_mutex);
  if (g_sink) {
    g_sink(level, line);
    return;
  }
  std::fprintf(stderr, "procslink: %s: %s\n", level_name(level), line.c_str());
}
}  // namespace detail

}  // namespace procslink
