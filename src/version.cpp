// version.cpp - the linked library's own version, for comparison with the headers' kVersion.
#include "procslink/version.hpp"

namespace procslink {

std::string_view library_version() noexcept { return kVersion; }

}  // namespace procslink
