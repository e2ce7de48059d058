#include "memopt/version.hpp"

// Written by cmake/revision.cmake at build time: only this file recompiles when the commit moves.
#include "memopt_revision.hpp"

namespace memopt {

std::string_view version() noexcept { return MEMOPT_VERSION; }

std::string_view revision() noexcept { return MEMOPT_REVISION; }

}  // namespace memopt
