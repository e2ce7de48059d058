#include "memopt/sys/exit_watch.hpp"

#include <poll.h>

#include <algorithm>
#include <unordered_map>
#include <utility>
#include <vector>

#include "memopt/sys/descriptors.hpp"
#include "memopt/sys/pidfd.hpp"

namespace memopt::sys {

namespace {

class PidfdExitWatch final : public ExitWatch {
 public:
  explicit PidfdExitWatch(std::size_t max_descriptors) : max_(max_descriptors) {}

  bool watch(int pid) override {
    if (watched_.contains(pid)) return true;
    if (unsupported_ || watched_.size() >= max_) return false;
    Pidfd fd(pid);
    if (!fd.valid()) {
      // Before Linux 5.3 (or under a seccomp filter) no pid will do: stop trying.
      if (fd.error() == ENOSYS || fd.error() == EPERM) unsupported_ = true;
      return false;
    }
    watched_.emplace(pid, std::move(fd));
    return true;
  }

  [[nodiscard]] bool watching(int pid) const override { return watched_.contains(pid); }

  void poll() override {
    if (watched_.empty()) return;
    fds_.clear();
    pids_.clear();
    for (const auto& [pid, fd] : watched_) {
      fds_.push_back({fd.descriptor(), POLLIN, 0});
      pids_.push_back(pid);
    }
    if (::poll(fds_.data(), fds_.size(), 0) < 0) {
      watched_.clear();  // nothing can be vouched for: everything is read again
      return;
    }
    for (std::size_t i = 0; i < fds_.size(); ++i) {
      if (fds_[i].revents != 0) watched_.erase(pids_[i]);  // exited (POLLIN), or POLLERR/NVAL
    }
  }

  void keep_only(const std::unordered_set<int>& pids) override {
    std::erase_if(watched_, [&](const auto& item) { return !pids.contains(item.first); });
  }

  [[nodiscard]] std::size_t size() const override { return watched_.size(); }

 private:
  std::size_t max_;
  bool unsupported_ = false;
  std::unordered_map<int, Pidfd> watched_;
  std::vector<pollfd> fds_;
  std::vector<int> pids_;
};

}  // namespace

std::unique_ptr<ExitWatch> make_pidfd_exit_watch(std::size_t max_descriptors) {
  if (max_descriptors == 0) max_descriptors = descriptor_budget(kPidfdBudgetDivisor);
  return std::make_unique<PidfdExitWatch>(max_descriptors);
}

}  // namespace memopt::sys
