// libFuzzer target: memopt::readers::parse_statm_rss on arbitrary <procfs>/<pid>/statm text.

#include "fuzz/fuzz.hpp"
#include "memopt/readers/procfs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  memopt::fuzz::run([&] {
    const std::uint64_t page_size = memopt::fuzz::page_size_for(size);
    const auto rss =
        memopt::readers::parse_statm_rss(memopt::fuzz::as_text(data, size), page_size, "statm");
    MEMOPT_FUZZ_CHECK(rss % page_size == 0);
  });
  return 0;
}
