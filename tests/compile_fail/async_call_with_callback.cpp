// Must not compile: async_call returns a future and takes no callback. The compiler must say,
// in one static_assert, what to write instead (checked by the ctest AsyncCallRefusesACallback).
#include "procslink/procslink.hpp"

void start(const procslink::Channel& channel) {
  channel.async_call("echo", 1, [](procslink::CallOutcome) {});
}
