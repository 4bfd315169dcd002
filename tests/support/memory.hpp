// memory.hpp - test support: a process's resident memory, and how much it may grow in a test.
#pragma once

#include <sys/types.h>

#include <fstream>
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

}  // namespace procslink::test
