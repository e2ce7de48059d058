#include <fmt/format.h>

#include "memopt/error.hpp"
#include "memopt/printable.hpp"
#include "memopt/readers/procfs.hpp"
#include "readers/text.hpp"

// <procfs>/pressure/memory and the cgroup v2 memory.pressure: pressure stall information (PSI).
namespace memopt::readers {

using detail::Lines;
using detail::next_field;
using detail::to_u64;
using detail::trim;

model::Pressure parse_pressure(std::string_view text, std::string_view source,
                               std::vector<SkippedLine>* skipped) {
  model::Pressure pressure;
  bool some = false;
  bool full = false;
  Lines lines(text);
  while (const auto line = lines.next()) {
    if (trim(*line).empty()) continue;
    std::string_view rest = *line;
    const std::string_view kind = next_field(rest);
    double* avg10 = nullptr;
    double* avg60 = nullptr;
    double* avg300 = nullptr;
    if (kind == "some") {
      avg10 = &pressure.some_avg10, avg60 = &pressure.some_avg60, avg300 = &pressure.some_avg300;
      some = true;
    } else if (kind == "full") {
      avg10 = &pressure.full_avg10, avg60 = &pressure.full_avg60, avg300 = &pressure.full_avg300;
      full = true;
    } else if (kind == "aggr") {
      throw parse_error(source, lines.number(),
                        "'aggr' starts the experimental PSI format of the pre-4.20 patches, not "
                        "the kernel's 'some avg10=...' lines");
    } else {
      // Newer kernels may add lines; the known ones keep their meaning.
      if (skipped != nullptr) skipped->push_back({lines.number(), std::string(trim(*line))});
      continue;
    }
    bool seen10 = false, seen60 = false, seen300 = false;
    for (std::string_view field = next_field(rest); !field.empty(); field = next_field(rest)) {
      const auto eq = field.find('=');
      if (eq == std::string_view::npos) {
        throw parse_error(source, lines.number(),
                          fmt::format("expected key=value, got '{}'", field));
      }
      const std::string_view key = field.substr(0, eq);
      const std::string_view value = field.substr(eq + 1);
      if (key == "total") {
        if (!to_u64(value))
          throw parse_error(source, lines.number(), fmt::format("bad total '{}'", value));
        continue;
      }
      const auto number = detail::to_non_negative_double(value);
      if (!number || *number > 100.0) {
        throw parse_error(source, lines.number(),
                          fmt::format("expected a percentage for {}, got '{}'", key, value));
      }
      if (key == "avg10")
        *avg10 = *number, seen10 = true;
      else if (key == "avg60")
        *avg60 = *number, seen60 = true;
      else if (key == "avg300")
        *avg300 = *number, seen300 = true;
    }
    if (!seen10 || !seen60 || !seen300) {
      throw parse_error(source, lines.number(), "expected avg10, avg60 and avg300");
    }
  }
  if (!some || !full) throw parse_error(source, 0, "expected a 'some' and a 'full' line");
  return pressure;
}

std::optional<model::Pressure> pressure_or_note(std::string_view text, const std::string& source,
                                                std::vector<model::Note>& notes) {
  std::vector<SkippedLine> skipped;
  try {
    auto pressure = parse_pressure(text, source, &skipped);
    for (const auto& line : skipped) {
      notes.push_back({"psi_line_ignored",
                       fmt::format("{}: line {}: ignored '{}' (not a 'some' or 'full' line)",
                                   source, line.number, printable(line.text))});
    }
    return pressure;
  } catch (const Error& e) {
    notes.push_back({"psi_unreadable", fmt::format("pressure unknown: {}", e.what())});
    return std::nullopt;
  }
}

std::optional<model::Pressure> read_host_pressure(const Roots& roots,
                                                  std::vector<model::Note>& notes) {
  const std::string path = roots.procfs + "/pressure/memory";
  std::optional<std::string> text;
  try {
    text = sys::read_optional(path);
  } catch (const Error& e) {
    notes.push_back({"psi_unreadable", fmt::format("pressure unknown: {}", e.what())});
    return std::nullopt;
  }
  if (!text) {
    notes.push_back(
        {"no_host_psi",
         fmt::format("no pressure stall information: {} is absent (kernel < 4.20 or psi=0)",
                     path)});
    return std::nullopt;
  }
  return pressure_or_note(*text, path, notes);
}

}  // namespace memopt::readers
