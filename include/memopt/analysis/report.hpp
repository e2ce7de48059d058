#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "memopt/analysis/container_identity.hpp"
#include "memopt/analysis/gpu_verdicts.hpp"
#include "memopt/model/sample.hpp"

// Pure functions from a Sample to what it means: the effective view, the level, advice.
namespace memopt::analysis {

/// The seed's status levels, in increasing order of trouble; kUnknown (below every level, so
/// that no threshold comparison fires on it) when the target's memory cannot be read.
enum class Level {
  kUnknown = -1,
  kNormal = 0,
  kAcceptable = 1,
  kWarning = 2,
  kSevere = 3,
  kDanger = 4
};

/// "unknown", "normal", "acceptable", "warning", "severe", "danger".
[[nodiscard]] std::string_view to_string(Level level);

/// Parses a level name as to_string prints it; throws Error(kUsage) naming `what` otherwise.
[[nodiscard]] Level parse_level(std::string_view name, std::string_view what);

/// Where the levels switch (README "`memopt report`", Level; the seed's numbers by default).
struct Thresholds {
  double acceptable_percent = 70;                            ///< used_percent >= this: acceptable
  double warning_percent = 80;                               ///< used_percent > this: warning
  double severe_percent = 90;                                ///< used_percent > this: severe
  std::uint64_t danger_available_bytes = 50ull << 20;        ///< available < this: danger
  std::uint64_t minimum_available_bytes = 200ull << 20;      ///< advice: the seed's minimum
  std::uint64_t recommended_available_bytes = 500ull << 20;  ///< advice: the seed's recommendation
  double pressure_advice_percent = 10;  ///< advice: PSI some avg10 at or above this (percent)
  double gpu_advice_percent = 90;       ///< advice: a GPU's memory use above this (percent)
};

/// Whether the numbers describe a container (a cgroup limit applies) or the whole host; unknown
/// when the target's memory cgroup cannot be read (then no figure is shown).
enum class Scope { kContainer, kHost, kUnknown };

/// "container", "host" or "unknown".
[[nodiscard]] std::string_view to_string(Scope scope);

/// The one view every front end shows (docs/report-schema.md "`memory`: the effective view").
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

/// used / limit * 100: the one rule every output uses. Used above the limit, and a limit of 0
/// (never set on a real cgroup), read as 100.
[[nodiscard]] double used_percent(std::uint64_t used_bytes, std::uint64_t limit_bytes);

/// Computes the effective view of a sample's figures: `cgroup` (the target's, or a listed
/// container's; null for the host) against `host`.
[[nodiscard]] EffectiveMemory effective_memory(const model::CgroupMemory* cgroup,
                                               const model::HostMemory& host);

/// Computes the effective view of `sample` (scope unknown when its cgroup is unreadable).
[[nodiscard]] EffectiveMemory effective_memory(const model::Sample& sample);

/// The pressure that belongs to the view: the cgroup's own PSI in container scope, the host's
/// in host scope. Never the host's stalls presented as a container's.
[[nodiscard]] std::optional<model::Pressure> effective_pressure(const model::Sample& sample,
                                                                Scope scope);

/// The level and the sentences that explain it.
struct Status {
  Level level = Level::kNormal;
  std::vector<std::string> reasons;
};

/// The first level that matches, from danger down (README "`memopt report`", Level).
[[nodiscard]] Status assess(const EffectiveMemory& memory, const Thresholds& thresholds);

/// A model's sizes from the seed's table (docs/sizing.md "The table beside it").
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

/// One listed container (`report --containers`): its own view and level.
struct ContainerView {
  std::string path;            ///< the cgroup path
  ContainerIdentity identity;  ///< runtime, container id, pod, from the path
  EffectiveMemory memory;
  Level level = Level::kNormal;
  std::optional<std::uint64_t> oom_kill_events;
};

/// Everything a report shows, derived from one Sample.
struct Report {
  model::Sample sample;
  Thresholds thresholds;  ///< the thresholds the level was assessed with
  EffectiveMemory memory;
  Status status;
  std::vector<Advice> advice;
  std::vector<ContainerView> containers;  ///< sorted by used percent, highest first
  /// gpu_orphan and gpu_wrong_device verdicts on the sample's GPU processes (gpu_verdicts()).
  std::vector<GpuVerdict> gpu_verdicts;
};

/// Options for analyze().
struct AnalysisOptions {
  Thresholds thresholds;
  std::optional<ModelSize> model;  ///< from --model: compare the limit with its minimum
};

/// Derives the effective view, the level and the advice; the sample's notes become "info"
/// advice so that absent sources are said, not hidden. Advice is ordered by urgency: warnings
/// first, the shortage of available memory first among them.
[[nodiscard]] Report analyze(model::Sample sample, const AnalysisOptions& options);

/// The advice for `report`'s sample and view (what analyze() adds after the level), for a
/// monitor that refreshes the view between full samples: stale advice never stays beside a
/// new level.
[[nodiscard]] std::vector<Advice> advise(const model::Sample& sample, const EffectiveMemory& memory,
                                         const AnalysisOptions& options);

}  // namespace memopt::analysis
