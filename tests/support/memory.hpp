// memory.hpp - test support: a process's resident memory, and how much it may grow in a test.
#pragma once

#include <sys/types.h>

#include <fstream>
#include <sstream>
#include <string>

namespace procslink::test {

// How much a server's resident memory may grow. Under ASan, freed memory waits in a
// quarantine (256 MB by default) that counts as resident, and TSan keeps shadow state per
// touched page; there the server's leak check at exit (a clean exit status) does the rest.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr long kRssGrowthBoundKib = (50 + 256) * 1024;
#else
inline constexpr long kRssGrowthBoundKib = 50 * 1024;
#endif

// VmRSS of `pid` in KiB, or -1 when it cannot be read.
inline long rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      long kib = 0;
      status >> kib;
      return kib;
    }
    status.ignore(4096, '\n');
  }
  return -1;
}

// The mappings of `pid` that hold at least `min_kib` resident, one line each with their Rss,
// LazyFree and AnonHugePages: what a test prints when a resident size stays too high.
inline std::string resident_mappings(pid_t pid, long min_kib = 1024) {
  std::ifstream smaps("/proc/" + std::to_string(pid) + "/smaps");
  std::ostringstream out;
  std::string line, range, fields;
  long rss = 0;
  const auto flush = [&] {
    if (!range.empty() && rss >= min_kib) out << range << "\n   " << fields << "\n";
  };
  while (std::getline(smaps, line)) {
    std::istringstream words(line);
    std::string key;
    long kib = 0;
    words >> key >> kib;
    if (key.find('-') != std::string::npos && key.back() != ':') {
      flush();
      range = line, fields.clear(), rss = 0;
    } else if (key == "Rss:" || key == "LazyFree:" || key == "AnonHugePages:") {
      if (key == "Rss:") rss = kib;
      fields += key + " " + std::to_string(kib) + " kB  ";
    }
  }
  flush();
  return out.str();
}

}  // namespace procslink::test
