#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <string_view>

#include "memopt/error.hpp"

// Shared by the libFuzzer targets: each feeds the input to one parser as text. memopt::Error
// is the parser's defined way to reject input; any other exception escapes and is reported by
// libFuzzer as a crash, as are sanitizer findings and broken invariants (MEMOPT_FUZZ_CHECK).
namespace memopt::fuzz {

/// The fuzzer's bytes as the text a parser reads.
inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// A page size for parsers that take one, picked from the input length so that corpus files
/// stay plain copies of the kernel's files: 4 KiB mostly, also 16 KiB, 64 KiB and 2 MiB.
inline std::uint64_t page_size_for(std::size_t size) {
  constexpr std::uint64_t kSizes[] = {4096, 4096, 4096, 16384, 65536, 2097152};
  return kSizes[size % std::size(kSizes)];
}

/// Runs `parse`; a memopt::Error is the expected rejection of malformed input.
template <typename F>
void run(F&& parse) {
  try {
    parse();
  } catch (const memopt::Error& e) {
    // Rejecting bad input is the contract; the message must still name something.
    if (*e.what() == '\0') std::abort();
  }
}

}  // namespace memopt::fuzz

/// Aborts (a crash libFuzzer reports with the input) when a parser breaks its promise.
#define MEMOPT_FUZZ_CHECK(condition) \
  do {                               \
    if (!(condition)) std::abort();  \
  } while (false)
