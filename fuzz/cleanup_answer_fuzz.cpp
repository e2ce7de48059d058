// libFuzzer target: memopt::actions::apply_cleanup_answer on arbitrary answers from a
// cooperating process's cleanup socket (a hostile server chooses every byte).
#include "fuzz/fuzz.hpp"
#include "memopt/actions/cleanup.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  memopt::fuzz::run([&] {
    const auto text = memopt::fuzz::as_text(data, size);
    for (const char* request : {"cleanup", "ping"}) {
      memopt::actions::CooperatingProcess process;
      process.rss_before_bytes = std::uint64_t{1} << 30;
      memopt::actions::apply_cleanup_answer(text, request, process);
      if (process.status != "failed" && process.released_bytes &&
          *process.released_bytes > std::int64_t{1} << 30) {
        MEMOPT_FUZZ_CHECK(false);  // a release above the RSS held must never be taken
      }
    }
  });
  return 0;
}
