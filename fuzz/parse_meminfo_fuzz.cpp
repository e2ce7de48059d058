// libFuzzer target: memopt::readers::parse_meminfo on arbitrary <procfs>/meminfo text.

#include "fuzz/fuzz.hpp"
#include "memopt/readers/procfs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  memopt::fuzz::run([&] {
    const auto host = memopt::readers::parse_meminfo(memopt::fuzz::as_text(data, size), "meminfo");
    MEMOPT_FUZZ_CHECK(host.total_bytes > 0);
    MEMOPT_FUZZ_CHECK(host.available_bytes <= host.total_bytes);
  });
  return 0;
}
