// libFuzzer target: memopt::readers::parse_mount on arbitrary <procfs>/self/mountinfo text.

#include "fuzz/fuzz.hpp"
#include "memopt/readers/procfs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The mount points memopt asks about; picked from the length so the seeds stay plain files.
  constexpr std::string_view kMountPoints[] = {"/dev/shm", "/sys/fs/cgroup", "/"};
  const std::string_view mount_point = kMountPoints[size % std::size(kMountPoints)];
  memopt::fuzz::run([&] {
    const auto mount =
        memopt::readers::parse_mount(memopt::fuzz::as_text(data, size), mount_point, "mountinfo");
    MEMOPT_FUZZ_CHECK(!mount || mount->mount_point == mount_point);
  });
  return 0;
}
