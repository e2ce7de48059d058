// libFuzzer target: the `cleanup`/`shed`/`ping` answers from a cooperating process's cleanup
// socket (a hostile server chooses every byte): protocol::decode_cleanup_answer and
// decode_ping_answer, which must round-trip what they accept, and
// memopt::actions::apply_cleanup_answer built on them.
#include "fuzz/fuzz.hpp"
#include "memopt/actions/cleanup.hpp"
#include "memopt/protocol/cleanup.hpp"
#include "memopt/protocol/wire.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = memopt::fuzz::as_text(data, size);
  memopt::fuzz::run([&] {
    const auto answer = memopt::protocol::decode_cleanup_answer(text);
    MEMOPT_FUZZ_CHECK(memopt::protocol::decode_cleanup_answer(
                          memopt::protocol::encode_cleanup_answer(answer)) == answer);
  });
  memopt::fuzz::run([&] {
    const auto ping = memopt::protocol::decode_ping_answer(text);
    MEMOPT_FUZZ_CHECK(
        memopt::protocol::decode_ping_answer(memopt::protocol::encode_ping_answer(ping)) == ping);
  });
  memopt::fuzz::run([&] {
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
