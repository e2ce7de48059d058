// libFuzzer target: memopt::readers::parse_cgroup_limit on arbitrary memory.max / limit_in_bytes

// text.
#include "fuzz/fuzz.hpp"
#include "memopt/readers/cgroupfs.hpp"
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  memopt::fuzz::run([&] {
    (void)memopt::readers::parse_cgroup_limit(memopt::fuzz::as_text(data, size), "memory.max");
  });
  return 0;
}
