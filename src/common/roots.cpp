#include "memopt/roots.hpp"

#include <sys/auxv.h>

namespace memopt {

std::uint64_t page_size() noexcept {
  static const auto kSize = static_cast<std::uint64_t>(::getauxval(AT_PAGESZ));
  return kSize;
}

}  // namespace memopt
