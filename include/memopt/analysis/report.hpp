#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "memopt/model/sample.hpp"

// Pure functions from a Sample to what it means: the effective view, the level, advice.
namespace memopt::analysis {

/// The seed's status levels, in increasing order of trouble.
enum class Level { kNormal = 0, kAcceptable = 1, kWarning = 2, kSevere = 3, kDanger = 4 };

/// "normal", "acceptable", "warning", "severe", "danger".
[[nodiscard]] std::string_view to_string(Level level);

/// Parses a level name as to_string prints it; throws Error(kUsage) naming `what` otherwise.
[[nodiscard]] Level parse_level(std::string_view name, std::string_view what);

/// Where the levels switch (DESIGN.md "Status levels"; the seed's numbers by default).
struct Thresholds {
  double acceptable_percent = 70;                            ///< used_percent >= this: acceptable
  double warning_percent = 80;                               ///< used_percent > this: warning
  double severe_percent = 90;                                ///< used_percent > this: severe
  std::uint64_t danger_available_bytes = 50ull << 20;        ///< available < this: danger
  std::uint64_t minimum_available_bytes = 200ull << 20;      ///< advice: the seed's minimum
  std::uint64_t recommended_available_bytes = 500ull << 20;  ///< advice: the seed's recommendation
};

/// Whether the numbers describe a container (a cgroup limit applies) or the whole host.
enum class Scope { kContainer, kHost };

/// "container" or "host".
[[nodiscard]] std::string_view to_string(Scope scope);

/// The one view every front end shows (DESIGN.md "Effective view").
struct EffectiveMemory {
  Scope scope = Scope::kHost;
  std::uint64_t limit_bytes = 0;      ///< min(cgroup limit, MemTotal), or MemTotal
  std::uint64_t used_bytes = 0;       ///< cgroup working set, or MemTotal - MemAvailable
  std::uint64_t available_bytes = 0;  ///< min(limit - used, MemAvailable), or MemAvailable
  double used_percent = 0;            ///< used / limit * 100, at most 100 (see over_limit)
  /// The cgroup reports a working set above its limit (files that disagree, or a hostile
  /// tree: usage 2^64 - 1): used_percent is then 100, never 3.4e12, and assess() says why.
  bool over_limit = false;
};

/// Computes the effective view of `sample`.
[[nodiscard]] EffectiveMemory effective_memory(const model::Sample& sample);

/// The level and the sentences that explain it.
struct Status {
  Level level = Level::kNormal;
  std::vector<std::string> reasons;
};

/// The first rule of DESIGN.md's table that matches, top down.
[[nodiscard]] Status assess(const EffectiveMemory& memory, const Thresholds& thresholds);

/// A model's sizes from the seed's table (DESIGN.md "Sizing table").
struct ModelSize {
  std::string_view name;
  std::uint64_t minimum_bytes;
  std::uint64_t recommended_bytes;
  std::uint64_t best_bytes;
};

/// The seed's sizing table.
[[nodiscard]] const std::vector<ModelSize>& model_table();

/// The table row for `name` (case-insensitive); throws Error(kUsage) listing the known names.
[[nodiscard]] const ModelSize& find_model(std::string_view name);

/// A piece of advice. "warning" asks for action; "info" explains.
struct Advice {
  std::string id;
  std::string severity;  ///< "info" or "warning"
  std::string message;
};

/// Everything a report shows, derived from one Sample.
struct Report {
  model::Sample sample;
  Thresholds thresholds;  ///< the thresholds the level was assessed with
  EffectiveMemory memory;
  Status status;
  std::vector<Advice> advice;
};

/// Options for analyze().
struct AnalysisOptions {
  Thresholds thresholds;
  std::optional<ModelSize> model;  ///< from --model: compare the limit with its minimum
};

/// Derives the effective view, the level and the advice; the sample's notes become "info"
/// advice so that absent sources are said, not hidden.
[[nodiscard]] Report analyze(model::Sample sample, const AnalysisOptions& options);

}  // namespace memopt::analysis
