// libFuzzer target: memopt::readers::parse_kernel_oom_kills on arbitrary /dev/kmsg or dmesg
// text. It rejects nothing (unparsable lines are skipped), so any exception is a bug.

#include "fuzz/fuzz.hpp"
#include "memopt/readers/kernel_log.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Not wrapped in memopt::fuzz::run: even memopt::Error would break the contract here.
  const auto kills = memopt::readers::parse_kernel_oom_kills(memopt::fuzz::as_text(data, size));
  for (const auto& kill : kills) MEMOPT_FUZZ_CHECK(kill.pid >= 0);
  return 0;
}
