// libFuzzer target: memopt::readers::parse_proc_cgroup on arbitrary <procfs>/self/cgroup text.

#include "fuzz/fuzz.hpp"
#include "memopt/readers/procfs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  memopt::fuzz::run([&] {
    const auto lines =
        memopt::readers::parse_proc_cgroup(memopt::fuzz::as_text(data, size), "cgroup");
    MEMOPT_FUZZ_CHECK(!lines.empty());
    for (const auto& line : lines) {
      MEMOPT_FUZZ_CHECK(line.hierarchy_id >= 0 && !line.path.empty() && line.path.front() == '/');
    }
  });
  return 0;
}
