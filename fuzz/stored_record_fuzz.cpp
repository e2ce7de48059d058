// libFuzzer target: the checks of what is read back from the history database (a post-mortem
// document, an event line), which any bytes in a crafted database reach.
#include <nlohmann/json.hpp>

#include "fuzz/fuzz.hpp"
#include "memopt/record/stored.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  memopt::fuzz::run([&] {
    const auto text = memopt::fuzz::as_text(data, size);
    // A document passed as sound is a JSON object whose kind the views can read.
    if (!memopt::record::postmortem_problem(text)) {
      const auto doc = nlohmann::json::parse(text);
      MEMOPT_FUZZ_CHECK(doc.is_object() && doc.at("kind").is_string());
      MEMOPT_FUZZ_CHECK(doc.at("processes").is_array() && doc.at("cgroup_files").is_object());
    }
    if (const auto e = memopt::record::decode_event_line(text)) {
      const auto doc = nlohmann::json::parse(text);
      MEMOPT_FUZZ_CHECK(doc.at("message").get<std::string>() == e->message);
      MEMOPT_FUZZ_CHECK(doc.at("event").get<std::string>() == e->name);
    }
  });
  return 0;
}
