// memopt_test_holder: holds touched anonymous memory for the integration tests.
//   memopt_test_holder            holds as many MiB as the last number read from stdin,
//                                 answering "ok" after each change, until EOF
//   memopt_test_holder MIB MS     holds MIB MiB for MS milliseconds, then exits 0
//   memopt_test_holder MIB MS SPIKE_MIB SPIKE_AT_MS SPIKE_MS
//                                 the same, but holds SPIKE_MIB MiB from SPIKE_AT_MS for
//                                 SPIKE_MS milliseconds (a short spike, as a batch makes)
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr std::size_t kMiB = 1 << 20;

bool resize(std::vector<void*>& chunks, unsigned target) {
  while (chunks.size() > target) {
    ::munmap(chunks.back(), kMiB);
    chunks.pop_back();
  }
  while (chunks.size() < target) {
    void* p = ::mmap(nullptr, kMiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return false;
    std::memset(p, 0x5a, kMiB);  // touch every page so it is charged
    chunks.push_back(p);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<void*> chunks;
  if (argc == 6) {
    const int total_ms = std::atoi(argv[2]);
    const int at_ms = std::atoi(argv[4]);
    const int spike_ms = std::atoi(argv[5]);
    if (!resize(chunks, static_cast<unsigned>(std::atoi(argv[1])))) return 1;
    ::usleep(static_cast<useconds_t>(at_ms) * 1000);
    if (!resize(chunks, static_cast<unsigned>(std::atoi(argv[3])))) return 1;
    ::usleep(static_cast<useconds_t>(spike_ms) * 1000);
    if (!resize(chunks, static_cast<unsigned>(std::atoi(argv[1])))) return 1;
    ::usleep(static_cast<useconds_t>(std::max(0, total_ms - at_ms - spike_ms)) * 1000);
    return 0;
  }
  if (argc == 3) {
    if (!resize(chunks, static_cast<unsigned>(std::atoi(argv[1])))) return 1;
    ::usleep(static_cast<useconds_t>(std::atoi(argv[2])) * 1000);
    return 0;
  }
  unsigned target = 0;
  while (std::scanf("%u", &target) == 1) {
    if (!resize(chunks, target)) return 1;
    std::fputs("ok\n", stdout);
    std::fflush(stdout);
  }
  return 0;
}
