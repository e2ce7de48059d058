// libFuzzer target: memopt::readers::parse_mountinfo on arbitrary <procfs>/self/mountinfo text.

#include "fuzz/fuzz.hpp"
#include "memopt/readers/mountinfo.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  memopt::fuzz::run([&] {
    const auto mounts =
        memopt::readers::parse_mountinfo(memopt::fuzz::as_text(data, size), "mountinfo");
    for (const auto& mount : mounts) {
      MEMOPT_FUZZ_CHECK(!mount.mount_point.empty() && !mount.fs_type.empty());
    }
  });
  return 0;
}
