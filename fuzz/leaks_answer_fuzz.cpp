// libFuzzer target: answers to a `leaks` request (a hostile server chooses every byte):
// protocol::decode_leaks_answer, which must round-trip what it accepts, and the server's
// encode_leak_report on an arbitrary report from the embedding program.
#include <nlohmann/json.hpp>

#include "fuzz/fuzz.hpp"
#include "memopt/printable.hpp"
#include "memopt/protocol/leaks.hpp"
#include "memopt/protocol/wire.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = memopt::fuzz::as_text(data, size);
  memopt::fuzz::run([&] {
    const auto answer = memopt::protocol::decode_leaks_answer(text);
    MEMOPT_FUZZ_CHECK(memopt::protocol::decode_leaks_answer(
                          memopt::protocol::encode_leaks_answer(answer)) == answer);
    for (const auto& site : answer.sites) {
      MEMOPT_FUZZ_CHECK(!site.file || memopt::is_printable(*site.file));
    }
  });
  memopt::fuzz::run([&] {
    // Whatever the report, the server's answer is one JSON object carrying its pid.
    const auto sent = memopt::protocol::encode_leak_report(text, 7);
    const auto parsed = nlohmann::json::parse(sent);
    MEMOPT_FUZZ_CHECK(parsed.is_object() && parsed.at(memopt::protocol::key::kPid) == 7);
  });
  return 0;
}
