#pragma once

#include <cstdint>
#include <string>

// Where the kernel's files are: plain data every layer passes on, from the command line's
// --procfs/--sysfs down to the readers (sys::roots_at reads a captured tree's page size).
namespace memopt {

/// The page size, in bytes, the kernel gave this process (the auxiliary vector's AT_PAGESZ:
/// read from memory, no system call). Only in-process measurement of memopt's own process uses
/// it directly; readers of a tree take Roots::page_size_bytes.
[[nodiscard]] std::uint64_t page_size() noexcept;

/// Where the kernel's pseudo file systems are mounted, and the page size of the kernel that
/// wrote them. Readers take these as values so tests can point at fixture trees and a sidecar
/// can point at a host's /proc mounted elsewhere.
struct Roots {
  std::string procfs = "/proc";  ///< the live system's unless told
  std::string sysfs = "/sys";
  /// The page size, in bytes, of the kernel whose files these are: statm and buddyinfo count
  /// pages. This host's by default; a tree captured from another kernel (a 64 KiB arm64 host
  /// read on a 4 KiB one) carries its own (see sys::roots_at).
  std::uint64_t page_size_bytes = page_size();
};

}  // namespace memopt
