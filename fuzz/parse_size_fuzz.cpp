// libFuzzer target: memopt::parse_size on arbitrary size strings (--limit 512M, 1.5G, ...).

#include "fuzz/fuzz.hpp"
#include "memopt/units.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  memopt::fuzz::run(
      [&] { (void)memopt::parse_size(memopt::fuzz::as_text(data, size), "--limit"); });
  return 0;
}
