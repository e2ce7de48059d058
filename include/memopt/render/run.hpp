#pragma once

#include <string>

#include "memopt/actions/run.hpp"
#include "memopt/analysis/sizing.hpp"

// Output of `memopt run` and `memopt recommend`.
namespace memopt::render {

/// The run's summary for people: exit, duration, peaks, time at each level, OOM kills and the
/// recommended container size (or, after an OOM kill, why there is none and how to rerun).
[[nodiscard]] std::string render_run_text(const analysis::RunReport& report);

/// The run as JSON (schema memopt.run/1): command, exit_code, signal, oom_killed, limit_bytes,
/// duration_seconds, peak_bytes (the working-set peak sizing uses: from the kernel when
/// peak_source is "kernel", else sampled), peak_usage_bytes (the kernel's usage peak, page cache
/// included), peak_cache_bytes, sampled_peak_bytes, peak_rss_bytes, peak_pss_bytes,
/// peak_gpu_bytes, peak_gpu_devices [{index, name, total_bytes, peak_bytes}] (the command's GPU
/// peak on each device), room_bytes/room_limited_by (what the enclosing container had), forced,
/// other_oom_kills (kills outside the command during the run; null when unknown),
/// stop_escalated, confidence ("low": one run), samples, recommendation {memory_bytes,
/// memory_swap_bytes, docker_flags, docker_update, kubernetes}, limit_applied,
/// time_at_level_seconds.
[[nodiscard]] std::string render_run_json(const analysis::RunReport& report);

/// A self-contained HTML page (chart library inlined; opens offline) with memory over time
/// against the limit and the level bands, GPU memory beside it, and the OOM kill marked.
[[nodiscard]] std::string render_run_timeline(const analysis::RunReport& report);

/// A recommendation as Docker flags and a Kubernetes snippet, under a heading.
[[nodiscard]] std::string render_recommendation(std::string_view heading,
                                                const analysis::Recommendation& r);

/// The seed's table row for `model`: its three sizes, each with Docker and Kubernetes flags.
[[nodiscard]] std::string render_model_sizes(const analysis::ModelSize& model);

/// The recommendation from the `memopt run --json` result `run` read from `path`
/// (actions::read_run_result).
[[nodiscard]] std::string render_run_file_recommendation(const std::string& path,
                                                         const actions::RunResult& run);

}  // namespace memopt::render
