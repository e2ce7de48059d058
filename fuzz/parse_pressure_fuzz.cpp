// libFuzzer target: memopt::readers::parse_pressure on arbitrary PSI text.

#include "fuzz/fuzz.hpp"
#include "memopt/readers/procfs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  memopt::fuzz::run([&] {
    const auto p =
        memopt::readers::parse_pressure(memopt::fuzz::as_text(data, size), "memory.pressure");
    for (const double v :
         {p.some_avg10, p.some_avg60, p.some_avg300, p.full_avg10, p.full_avg60, p.full_avg300}) {
      MEMOPT_FUZZ_CHECK(v >= 0.0 && v <= 100.0);
    }
  });
  return 0;
}
