// libFuzzer target: memopt::readers::parse_oom_counters on arbitrary memory.events /

// memory.oom_control text.
#include "fuzz/fuzz.hpp"
#include "memopt/readers/cgroupfs.hpp"
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  memopt::fuzz::run([&] {
    (void)memopt::readers::parse_oom_counters(memopt::fuzz::as_text(data, size), "memory.events");
  });
  return 0;
}
