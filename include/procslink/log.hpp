// log.hpp - the library's one logging interface.
//
// Silent by default except for warnings: dropped input and given-up replies are always worth a
// line. Install a sink to route lines elsewhere (journald, a test's capture).
#pragma once

#include <functional>
#include <sstream>
#include <string>
#include <string_view>

namespace procslink {

enum class LogLevel { debug = 0, info = 1, warning = 2, error = 3, off = 4 };

using LogSink = std::function<void(LogLevel, std::string_view)>;

void set_log_level(LogLevel level);
LogLevel log_level();
// Replaces the sink (default: one line on stderr prefixed "procslink: "). nullptr restores it.
void set_log_sink(LogSink sink);

namespace detail {
void emit_log(LogLevel level, const std::string& line);
}

template <typename... Parts>
void log(LogLevel level, const Parts&... parts) {
  if (level < log_level()) return;
  std::ostringstream out;
  (out << ... << parts);
  detail::emit_log(level, out.str());
}

}  // namespace procslink
