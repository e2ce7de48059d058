// libFuzzer target: memopt::readers::parse_proc_stat on arbitrary <procfs>/<pid>/stat text.

#include "fuzz/fuzz.hpp"
#include "memopt/readers/procfs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  memopt::fuzz::run([&] {
    const auto stat = memopt::readers::parse_proc_stat(memopt::fuzz::as_text(data, size), "stat");
    MEMOPT_FUZZ_CHECK(stat.ppid >= 0 && stat.state != 0);
    MEMOPT_FUZZ_CHECK(!stat.pgrp || *stat.pgrp >= 0);
    MEMOPT_FUZZ_CHECK(!stat.session || *stat.session >= 0);
  });
  return 0;
}
