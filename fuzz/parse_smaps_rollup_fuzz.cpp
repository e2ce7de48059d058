// libFuzzer target: memopt::readers::parse_smaps_rollup on arbitrary <procfs>/<pid>/smaps_rollup

// text.
#include "fuzz/fuzz.hpp"
#include "memopt/readers/procfs.hpp"
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  memopt::fuzz::run([&] {
    (void)memopt::readers::parse_smaps_rollup(memopt::fuzz::as_text(data, size), "smaps_rollup");
  });
  return 0;
}
