// libFuzzer target: memopt::readers::parse_buddyinfo on arbitrary <procfs>/buddyinfo text.

#include "fuzz/fuzz.hpp"
#include "memopt/readers/procfs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  memopt::fuzz::run([&] {
    const auto f = memopt::readers::parse_buddyinfo(memopt::fuzz::as_text(data, size),
                                                    memopt::fuzz::page_size_for(size), "buddyinfo");
    MEMOPT_FUZZ_CHECK(!f.free_pages_by_order.empty() && f.free_pages_by_order.size() <= 32);
    MEMOPT_FUZZ_CHECK(f.unusable_free_percent_order9 >= 0.0 &&
                      f.unusable_free_percent_order9 <= 100.0);
  });
  return 0;
}
