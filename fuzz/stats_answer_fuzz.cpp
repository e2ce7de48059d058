// libFuzzer target: memopt::actions::apply_stats_answer on arbitrary answers to a `stats`
// request (a hostile server chooses every byte).
#include "fuzz/fuzz.hpp"
#include "memopt/actions/process_stats.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  memopt::fuzz::run([&] {
    memopt::model::ProcessStats stats;
    memopt::actions::apply_stats_answer(memopt::fuzz::as_text(data, size), stats);
    // An error leaves nothing taken; a figure taken is never allocated above reserved.
    MEMOPT_FUZZ_CHECK(!stats.error || (stats.torch.empty() && stats.models.empty()));
    for (const auto& device : stats.torch) {
      MEMOPT_FUZZ_CHECK(device.allocated_bytes <= device.reserved_bytes);
    }
  });
  return 0;
}
