// libFuzzer target: memopt::config::parse_monitor_config (the --config TOML, read again on
// every SIGHUP) on arbitrary bytes. toml++ runs with the sanitizers too, so input that would
// reach its undefined behaviour (marzer/tomlplusplus #295: U+FEFE, U+032A where it looks for
// whitespace) shows here unless check_toml_input() refuses it first.

#include <cmath>

#include "fuzz/fuzz.hpp"
#include "memopt/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  memopt::fuzz::run([&] {
    const auto config =
        memopt::config::parse_monitor_config(memopt::fuzz::as_text(data, size), "memopt.toml");
    const auto& t = config.watch.thresholds;
    MEMOPT_FUZZ_CHECK(std::isfinite(t.warning_percent) && std::isfinite(t.severe_percent));
    MEMOPT_FUZZ_CHECK(std::isfinite(config.watch.pressure_some_avg10));
    MEMOPT_FUZZ_CHECK(std::isfinite(config.watch.leak.min_r2));
  });
  return 0;
}
