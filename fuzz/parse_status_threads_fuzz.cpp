// libFuzzer target: memopt::readers::parse_status_threads on arbitrary <procfs>/<pid>/status text.

#include "fuzz/fuzz.hpp"
#include "memopt/readers/procfs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  memopt::fuzz::run([&] {
    (void)memopt::readers::parse_status_threads(memopt::fuzz::as_text(data, size), "status");
  });
  return 0;
}
