#include "memopt/actions/process_stats.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "memopt/actions/cleanup.hpp"
#include "memopt/actions/socket_client.hpp"
#include "memopt/error.hpp"
#include "memopt/protocol/wire.hpp"
#include "memopt/readers/facts.hpp"
#include "memopt/readers/gpu_attribution.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/sys/runtime_dir.hpp"

namespace memopt::actions {

namespace {

std::string stats_request() {
  return std::string(protocol::request_name(protocol::Request::kStats));
}

}  // namespace

std::vector<model::ProcessStats> ask_process_stats(const Roots& roots, const model::Target& target,
                                                   const std::vector<std::string>& runtime_dirs,
                                                   std::chrono::milliseconds timeout) {
  std::size_t stale = 0;
  std::vector<model::ProcessStats> all;
  std::vector<SocketQuestion> questions;
  for (const auto& socket : find_cleanup_sockets(roots, target, runtime_dirs, stale)) {
    model::ProcessStats stats;
    stats.pid = socket.pid;
    stats.name = readers::read_process_name(roots, socket.pid);
    all.push_back(std::move(stats));
    questions.push_back({socket.pid, socket.path, socket.dir_owner, stats_request()});
  }
  // All at once in one poll loop, under the one `timeout`.
  const auto replies = ask_sockets(questions, timeout);
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (replies[i].answer) {
      apply_stats_answer(*replies[i].answer, all[i]);
    } else {
      all[i].error = replies[i].failure;
    }
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.pid < b.pid; });
  return all;
}

std::vector<model::TorchVersion> ask_torch_versions(const Roots& roots, const model::Target& target,
                                                    const std::vector<std::string>& runtime_dirs,
                                                    std::chrono::milliseconds timeout) {
  std::size_t stale = 0;
  std::vector<SocketQuestion> questions;
  for (const auto& socket : find_cleanup_sockets(roots, target, runtime_dirs, stale)) {
    questions.push_back({socket.pid, socket.path, socket.dir_owner, stats_request()});
  }
  const auto replies = ask_sockets(questions, timeout);
  std::vector<model::TorchVersion> versions;
  for (std::size_t i = 0; i < questions.size(); ++i) {
    if (!replies[i].answer) continue;
    const auto version = torch_version_of_stats_answer(*replies[i].answer);
    const auto major_minor = version ? readers::parse_major_minor(*version) : std::nullopt;
    if (!major_minor) continue;
    versions.push_back({questions[i].pid,
                        readers::read_process_name(roots, questions[i].pid).value_or("?"), *version,
                        major_minor->first, major_minor->second, "its stats answer"});
  }
  std::sort(versions.begin(), versions.end(),
            [](const auto& a, const auto& b) { return a.pid < b.pid; });
  return versions;
}

void add_in_process_view(const Roots& roots, const model::Target& target, model::Sample& sample,
                         std::chrono::milliseconds timeout) {
  std::vector<std::string> dirs;
  try {
    dirs = sys::runtime_directories_to_scan();
  } catch (const Error& e) {
    sample.notes.push_back({"runtime_dir_unusable",
                            fmt::format("processes embedding memopt not asked: {}", e.what())});
  }
  sample.process_stats = ask_process_stats(roots, target, dirs, timeout);
  if (!sample.gpus.empty()) {
    readers::attribute_gpu_processes(roots, sample.gpus, sample.process_stats, sample.notes);
  }
}

}  // namespace memopt::actions
