#pragma once

#include <cstddef>

// How many file descriptors a part of memopt may hold open for its own use.
namespace memopt::sys {

/// The most descriptors any one part is given, whatever the limit: a kept file or pidfd per
/// process, and no host has this many processes to watch.
inline constexpr std::size_t kMaxDescriptorBudget = std::size_t{1} << 16;

/// The soft limit assumed where getrlimit(2) cannot say (never on Linux, where RLIMIT_NOFILE is
/// always finite): the usual default.
inline constexpr std::size_t kAssumedDescriptorLimit = 1024;

/// The divisors of the parts that keep one descriptor per process: pidfds of watched processes
/// (make_pidfd_exit_watch) half the limit, kept statm files (readers::ProcessCache) a quarter;
/// the last quarter stays for everything else.
inline constexpr std::size_t kPidfdBudgetDivisor = 2;
inline constexpr std::size_t kKeptStatmBudgetDivisor = 4;

/// The share 1/`divisor` of this process's soft RLIMIT_NOFILE, at most kMaxDescriptorBudget:
/// what a part that keeps one descriptor per process (pidfds: 2, kept statm files: 4) may hold,
/// so that all of them together leave the rest of memopt its descriptors. Read at each call
/// (a limit raised at run time counts). `divisor` 0 is taken as 1.
[[nodiscard]] std::size_t descriptor_budget(std::size_t divisor);

/// The same for a given soft limit: min(soft_limit / divisor, kMaxDescriptorBudget).
[[nodiscard]] std::size_t descriptor_budget(std::size_t divisor, std::size_t soft_limit) noexcept;

}  // namespace memopt::sys
