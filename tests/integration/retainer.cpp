// memopt_test_retainer: holds freed-but-retained glibc heap for the cleanup tests.
//   memopt_test_retainer MIB [serve [slow]]
// mallocs MIB MiB in small blocks and touches them, keeps the last few (the top of the heap,
// so it cannot shrink by itself) and frees the rest; glibc keeps the freed pages. With
// "serve" it calls memopt::serve_cleanup() first; "slow" adds a cleanup and a shed hook that
// each take 500 ms before the heap is trimmed (a shed and a cleanup then overlap in time). Prints
// "ready FREE_BYTES" and waits for EOF on standard input.
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "memopt/inprocess.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs("usage: memopt_test_retainer MIB [serve]\n", stderr);
    return 2;
  }
  // No automatic trimming: whatever comes back must come from cleanup. A MALLOC_TRIM_THRESHOLD_
  // from the environment (the benchmark's comparison) is left in force.
  if (std::getenv("MALLOC_TRIM_THRESHOLD_") == nullptr) mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  std::unique_ptr<memopt::CleanupServer> server;
  if (argc > 2 && std::string(argv[2]) == "serve") server = memopt::serve_cleanup();
  if (argc > 3 && std::string(argv[3]) == "slow") {
    const auto pause = [] { ::usleep(500'000); };
    memopt::register_cleanup_hook("slow", pause);
    memopt::register_shed_hook("slow", pause);
  }

  constexpr std::size_t kBlock = 4000;  // above the fastbin sizes: freed blocks coalesce
  const std::size_t count = std::strtoul(argv[1], nullptr, 10) * (1 << 20) / kBlock;
  std::vector<void*> blocks(count);
  for (auto& block : blocks) {
    block = std::malloc(kBlock);
    std::memset(block, 0x5a, kBlock);
  }
  constexpr std::size_t kKept = 4;
  for (std::size_t i = 0; i + kKept < blocks.size(); ++i) std::free(blocks[i]);

  const struct mallinfo2 info = mallinfo2();
  std::printf("ready %zu\n", info.fordblks);
  std::fflush(stdout);
  char buffer[64];
  while (::read(0, buffer, sizeof(buffer)) > 0) {
  }
  if (server) server->stop();
  return 0;
}
