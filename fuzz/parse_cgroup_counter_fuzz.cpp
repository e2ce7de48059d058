// libFuzzer target: memopt::readers::parse_cgroup_counter on arbitrary memory.current text.

#include "fuzz/fuzz.hpp"
#include "memopt/readers/cgroupfs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  memopt::fuzz::run([&] {
    (void)memopt::readers::parse_cgroup_counter(memopt::fuzz::as_text(data, size),
                                                "memory.current");
  });
  return 0;
}
