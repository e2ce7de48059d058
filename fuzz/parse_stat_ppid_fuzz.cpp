// libFuzzer target: memopt::readers::parse_stat_ppid on arbitrary <procfs>/<pid>/stat text.

#include "fuzz/fuzz.hpp"
#include "memopt/readers/procfs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  memopt::fuzz::run([&] {
    const int ppid = memopt::readers::parse_stat_ppid(memopt::fuzz::as_text(data, size), "stat");
    MEMOPT_FUZZ_CHECK(ppid >= 0);
  });
  return 0;
}
