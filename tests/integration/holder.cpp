// memopt_test_holder: holds as many MiB of touched anonymous memory as the last number read
// from stdin, answering "ok" after each change. Used by the real-cgroup integration tests.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <vector>

int main() {
  constexpr std::size_t kMiB = 1 << 20;
  std::vector<void*> chunks;
  unsigned target = 0;
  while (std::scanf("%u", &target) == 1) {
    while (chunks.size() > target) {
      ::munmap(chunks.back(), kMiB);
      chunks.pop_back();
    }
    while (chunks.size() < target) {
      void* p = ::mmap(nullptr, kMiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) return 1;
      std::memset(p, 0x5a, kMiB);  // touch every page so it is charged
      chunks.push_back(p);
    }
    std::fputs("ok\n", stdout);
    std::fflush(stdout);
  }
  return 0;
}
