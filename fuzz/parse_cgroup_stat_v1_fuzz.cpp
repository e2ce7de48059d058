// libFuzzer target: memopt::readers::parse_cgroup_stat on arbitrary cgroup v1 memory.stat text.

#include "fuzz/fuzz.hpp"
#include "memopt/readers/cgroupfs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  memopt::fuzz::run([&] {
    const auto stat =
        memopt::readers::parse_cgroup_stat(memopt::fuzz::as_text(data, size), 1, "memory.stat");
    MEMOPT_FUZZ_CHECK(stat.inactive_file.has_value());
  });
  return 0;
}
