#include "memopt/sys/descriptors.hpp"

#include <sys/resource.h>

#include <algorithm>

namespace memopt::sys {

std::size_t descriptor_budget(std::size_t divisor) {
  rlimit limit{};
  const std::size_t soft =
      ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY
          ? static_cast<std::size_t>(limit.rlim_cur)
          : kAssumedDescriptorLimit;
  return descriptor_budget(divisor, soft);
}

std::size_t descriptor_budget(std::size_t divisor, std::size_t soft_limit) noexcept {
  return std::min(soft_limit / std::max<std::size_t>(divisor, 1), kMaxDescriptorBudget);
}

}  // namespace memopt::sys
