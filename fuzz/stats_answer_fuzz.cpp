// libFuzzer target: answers to a `stats` request (a hostile server chooses every byte), loop
// forecasts included: protocol::decode_stats_answer, which must round-trip what it accepts, and
// memopt::actions::apply_stats_answer built on it.
#include "fuzz/fuzz.hpp"
#include "memopt/actions/process_stats.hpp"
#include "memopt/protocol/stats.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = memopt::fuzz::as_text(data, size);
  memopt::fuzz::run([&] {
    auto answer = memopt::protocol::decode_stats_answer(text);
    answer.forecasts_note.reset();  // said by the decoder, never sent
    MEMOPT_FUZZ_CHECK(memopt::protocol::decode_stats_answer(
                          memopt::protocol::encode_stats_answer(answer)) == answer);
  });
  memopt::fuzz::run([&] {
    memopt::model::ProcessStats stats;
    memopt::actions::apply_stats_answer(text, stats);
    // An error leaves nothing taken; a figure taken is never allocated above reserved.
    MEMOPT_FUZZ_CHECK(!stats.error ||
                      (stats.torch.empty() && stats.models.empty() && stats.forecasts.empty()));
    for (const auto& device : stats.torch) {
      MEMOPT_FUZZ_CHECK(device.allocated_bytes <= device.reserved_bytes);
    }
    // A forecast taken holds figures that can be true: growth above 0, the limit's item at or
    // after the item, every count below 2^63.
    for (const auto& f : stats.forecasts) {
      MEMOPT_FUZZ_CHECK(f.bytes_per_item > 0 && f.bytes_per_item < 9.3e18);
      MEMOPT_FUZZ_CHECK(f.limit_item >= f.item && f.limit_item < (1ull << 63));
      MEMOPT_FUZZ_CHECK(!f.total || *f.total >= f.item);
      MEMOPT_FUZZ_CHECK(!f.seconds_left || *f.seconds_left >= 0);
    }
  });
  return 0;
}
