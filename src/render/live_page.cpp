#include "memopt/render/live_page.hpp"

#include <fmt/format.h>

#include <chrono>

#include "memopt/render/html.hpp"

namespace memopt::render {

std::string render_history_json(const std::vector<analysis::HistoryPoint>& history) {
  std::string out = "[";
  for (std::size_t i = 0; i < history.size(); ++i) {
    const auto& p = history[i];
    const double t = std::chrono::duration<double>(p.at.time_since_epoch()).count();
    fmt::format_to(std::back_inserter(out),
                   "{}{{\"t\":{:.3f},\"used_bytes\":{},\"limit_bytes\":{},\"available_bytes\":{},"
                   "\"level\":\"{}\"}}",
                   i == 0 ? "" : ",", t, p.used_bytes, p.limit_bytes, p.available_bytes,
                   analysis::to_string(p.level));
  }
  out += "]";
  return out;
}

std::string render_live_page() { return fill_page("live.html", {}); }

}  // namespace memopt::render
