// libFuzzer target: the client side of the cooperative socket protocol on arbitrary bytes from
// a hostile server: the line collector (cut into pieces the input chooses, under a cap),
// protocol::parse_answer and the three answer readers of actions built on the protocol's
// decoders (cleanup, stats, leaks).
#include <nlohmann/json.hpp>

#include "fuzz/fuzz.hpp"
#include "memopt/actions/cleanup.hpp"
#include "memopt/actions/leaks.hpp"
#include "memopt/actions/process_stats.hpp"
#include "memopt/printable.hpp"
#include "memopt/protocol/wire.hpp"
#include "memopt/sys/socket.hpp"

namespace {

// Every string in the tree, keys included, is printable.
bool all_printable(const nlohmann::json& value) {
  if (value.is_string()) return memopt::is_printable(value.get_ref<const std::string&>());
  if (value.is_array()) {
    for (const auto& item : value)
      if (!all_printable(item)) return false;
  }
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it)
      if (!memopt::is_printable(it.key()) || !all_printable(it.value())) return false;
  }
  return true;
}

void check_line_collector(std::string_view text) {
  if (text.empty()) return;
  // The first byte picks the cap and the piece size; the rest is what arrives.
  const std::size_t cap = static_cast<unsigned char>(text[0]) * 4;
  const std::size_t piece = static_cast<unsigned char>(text[0]) % 7 + 1;
  text.remove_prefix(1);
  memopt::sys::LineCollector collector(cap);
  for (std::size_t at = 0; at < text.size(); at += piece) collector.add(text.substr(at, piece));
  const auto end = text.find('\n');
  const auto expected = text.substr(0, end);
  using State = memopt::sys::LineCollector::State;
  MEMOPT_FUZZ_CHECK(collector.received_bytes() == text.size());
  if (expected.size() > cap) {
    MEMOPT_FUZZ_CHECK(collector.state() == State::kTooLong && collector.line().empty());
  } else if (end != std::string_view::npos) {
    MEMOPT_FUZZ_CHECK(collector.state() == State::kComplete && collector.line() == expected);
  } else {
    MEMOPT_FUZZ_CHECK(collector.state() == State::kCollecting && collector.line() == expected);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = memopt::fuzz::as_text(data, size);
  memopt::fuzz::run([&] {
    check_line_collector(text);

    const auto parsed = memopt::protocol::parse_answer(text);
    MEMOPT_FUZZ_CHECK(parsed.error.empty() == parsed.json.is_object());
    MEMOPT_FUZZ_CHECK(all_printable(parsed.json));

    for (const char* request : {"cleanup", "ping"}) {
      memopt::actions::CooperatingProcess process;
      process.rss_before_bytes = 1 << 30;
      memopt::actions::apply_cleanup_answer(text, request, process);
      MEMOPT_FUZZ_CHECK(memopt::is_printable(process.reason));
      MEMOPT_FUZZ_CHECK(process.status != "failed" || !process.released_bytes);
    }

    memopt::model::ProcessStats stats;
    memopt::actions::apply_stats_answer(text, stats);
    MEMOPT_FUZZ_CHECK(!stats.error || memopt::is_printable(*stats.error));
    for (const auto& model : stats.models) MEMOPT_FUZZ_CHECK(memopt::is_printable(model.name));
    MEMOPT_FUZZ_CHECK(stats.forecasts.size() <= 16);
    for (const auto& f : stats.forecasts) MEMOPT_FUZZ_CHECK(memopt::is_printable(f.message));

    const auto leaks = memopt::actions::parse_leak_sites(text, 5);
    MEMOPT_FUZZ_CHECK(leaks.sites.size() <= 5);
    MEMOPT_FUZZ_CHECK(!leaks.note || memopt::is_printable(*leaks.note));
    for (const auto& site : leaks.sites) {
      MEMOPT_FUZZ_CHECK(memopt::is_printable(site.file) && memopt::is_printable(site.kind));
    }
    MEMOPT_FUZZ_CHECK(memopt::is_printable(memopt::actions::leak_sites_text(leaks)));
  });
  return 0;
}
